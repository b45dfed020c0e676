"""The shop example as a Django project: its checks and migrations, and the demo end to end
(``make demo``: no set-up, SQLite and an embedded Redis, migrations run automatically)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANAGE = ROOT / "example_project" / "manage.py"


def clean_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a fresh shell: none of the test session's Django or Redis."""
    session = ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "DJANGO_DB_NAME")
    env = {k: v for k, v in os.environ.items() if k not in session}
    return {**env, "SQLITE_PATH": str(tmp_path / "shop.sqlite3"), "OUTBOX_DIR": str(tmp_path)}


def test_the_example_project_is_checked_and_migrated(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    for command in (["check"], ["makemigrations", "--check", "--dry-run"], ["migrate", "-v0"]):
        done = subprocess.run([sys.executable, str(MANAGE), *command], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, (command, done.stdout, done.stderr)


def test_the_demo_runs_with_no_set_up(tmp_path: Path) -> None:
    env = {**clean_env(tmp_path), "DEMO_DEADLINE": "90", "COLUMNS": "120"}
    env.pop("SQLITE_PATH")  # the demo makes its own database
    done = subprocess.run([sys.executable, "-m", "example_project.demo"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "(migrated)" in done.stdout
    assert "was never published (ActionNotFound)" in done.stdout
    assert "result(select=[...])" in done.stdout
    assert "OK in" in done.stdout
