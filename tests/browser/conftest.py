"""The example project served for a real browser: uvicorn (ASGI) on a free port, a real
worker, the flaky supplier API, a seeded SQLite database; Debian's Chromium driven by
Playwright (``apt-get install chromium``; never Playwright's own browser download)."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from celery_actions.testing import WorkerProcess, wait_for
from celery_actions.testing.embedded import free_port

ROOT = Path(__file__).resolve().parent.parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-gpu",
]
SCREENSHOTS = os.environ.get("ACTIONS_SCREENSHOTS", "")
"""A folder to save the docs' screenshots into (``docs``), or '' for none."""


@dataclass
class Shop:
    url: str
    env: dict[str, str]


def _manage(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([sys.executable, "example_project/manage.py", *args], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def shop(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    """The example project on uvicorn, with a worker and the supplier API (for one module:
    its worker consumes the session Redis's default Celery queue, so it must be gone
    before other modules' workers run)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install -y chromium (.ci/run does)")
    from example_project.supplier_api import SupplierAPI, SupplierConfig

    folder = tmp_path_factory.mktemp("shop")
    api = SupplierAPI(SupplierConfig(failure_rate=0.2, rate_limit_per_s=50)).start()
    session = ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "DJANGO_DB_NAME")
    env = {k: v for k, v in os.environ.items() if k not in session}
    env.update(
        REDIS_URL=redis_url,
        SQLITE_PATH=str(folder / "shop.sqlite3"),
        OUTBOX_DIR=str(folder / "outbox"),
        SUPPLIER_API_URL=api.url,
        DJANGO_SETTINGS_MODULE="example_project.settings",
        ACTIONS_ENVIRONMENT="development",
        PYTHONPATH=str(ROOT),
    )
    _manage(env, "migrate", "-v0")
    _manage(env, "shop_seed", "--operator", "olga:pw", "--viewer", "vic:pw",
            "--customer", "ann:pw", "--customer", "bob:pw")  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "example_project.asgi:application", "--port",
         str(port), "--log-level", "warning"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    worker = WorkerProcess("example_project.celery_app", redis_url=redis_url, env=env,
                           cwd=str(ROOT), name=f"shop-{port}@test").start()  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            with urllib.request.urlopen(url + "/", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    try:
        wait_for(up, timeout=30, what="the shop on uvicorn")
        yield Shop(url, env)
    finally:
        worker.stop()
        server.terminate()
        server.wait(10)
        api.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one module (Playwright's sync API runs an event loop in this thread
    while it is open: asyncio.run elsewhere would refuse to start)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        found = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield found
        found.close()


def log_in(browser: Any, shop: Shop, username: str) -> Any:
    """A browser context (its own cookies) logged in through the admin's login page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{shop.url}/login/?next=/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_url(f"{shop.url}/")
    page.close()
    return context


def screenshot(page: Any, name: str) -> None:
    """Save a screenshot for the docs when ACTIONS_SCREENSHOTS names a folder."""
    if SCREENSHOTS:
        page.screenshot(path=str(ROOT / SCREENSHOTS / name), full_page=True)
