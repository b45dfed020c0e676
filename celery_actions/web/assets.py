"""The dashboard's and the browser client's static files (shipped in the Django app's
``static/celery_actions/``, served from there by both the Django app and the
``celery actions dashboard`` server, without importing Django)."""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "django" / "static" / "celery_actions"
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".ts": "text/plain; charset=utf-8",
}


def asset(name: str) -> tuple[bytes, str] | None:
    """The content and content type of a static file, or None (no such file)."""
    if "/" in name or name.startswith(".") or Path(name).suffix not in TYPES:
        return None
    path = STATIC / name
    if not path.is_file():
        return None
    return path.read_bytes(), TYPES[path.suffix]
