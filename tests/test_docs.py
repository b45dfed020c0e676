"""docs/operations.md against the code: settings, Redis keys and `celery actions` commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import celery_actions.redis.keys
from celery_actions.cli.commands import actions
from celery_actions.core.settings import SETTINGS

OPERATIONS = Path(__file__).resolve().parent.parent / "docs" / "operations.md"


def table_rows(text: str, header_start: str) -> list[list[str]]:
    """The body rows (cells stripped) of the first table whose header starts so."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def doc_keys() -> list[tuple[str, str]]:
    """(pattern, type) of each key line in the keys.py docstring, e.g. ('P seq', 'string')."""
    doc = celery_actions.redis.keys.__doc__ or ""
    return re.findall(r"^ {4}(P \S+) +(\w+) ", doc, flags=re.MULTILINE)


@pytest.fixture(scope="module")
def operations() -> str:
    return OPERATIONS.read_text(encoding="utf-8")


def test_settings_table_matches_settings(operations: str) -> None:
    rows = {row[0].strip("`"): row for row in table_rows(operations, "| `app.conf`")}
    assert sorted(rows) == sorted(f"actions_{spec.name}" for spec in SETTINGS)
    for spec in SETTINGS:
        row = rows[f"actions_{spec.name}"]
        assert f"`CELERY_ACTIONS_{spec.name.upper()}`" in row, row
        assert f"`ACTIONS_{spec.name.upper()}`" in row, row
        assert row[3] == f"`{spec.default!r}`", (spec.name, row[3])


def test_key_table_matches_keys_docstring(operations: str) -> None:
    documented = doc_keys()
    assert len(documented) >= 11, documented  # the docstring's layout was parsed
    rows = {row[0].strip("`"): row[1] for row in table_rows(operations, "| key |")}
    assert rows == dict(documented)


def test_every_cli_command_is_documented(operations: str) -> None:
    assert set(actions.commands) >= {"queues", "show", "workers", "wait"}
    for name in actions.commands:
        assert f"celery -A proj actions {name}" in operations, name
