"""Error messages for enqueue options: each names the field, in the user's spelling, and
what it allows; an unknown key gets the nearest known one."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import ValidationError

from ..errors import InvalidOptions
from .limits import (
    ID_MAX_LENGTH,
    MAX_CONCURRENCY,
    MAX_INTERVAL_MS,
    MAX_RETRY_COUNT,
    MAX_RETRY_FOR_MS,
)

# The user-facing name of each field, in the spelling used in error messages.
DISPLAY = {
    "start_at": "startAt",
    "retries": "retries",
    "retry_for_ms": "retryFor",
    "queue": "queue",
    "priority": "priority",
    "id": "id",
    "on_duplicate_id": "onDuplicateID",
    "celery_queue": "celery_queue",
    "retry_count": "retryCount",
    "initial_interval_ms": "initialInterval",
    "max_interval_ms": "maxInterval",
    "backoff_factor": "backoffFactor",
    "randomize_interval": "randomizeInterval",
    "name": "name",
    "max_concurrency": "maxConcurrency",
}
_ALLOWED = {
    "startAt": "an aware datetime or an ISO 8601 string with an offset or Z, "
    "such as '2026-04-03T12:00:00.000Z', at most a hundred years ahead",
    "retries": f"an int from 0 to {MAX_RETRY_COUNT} or an object with retryCount, "
    "initialInterval, maxInterval, backoffFactor, randomizeInterval",
    "retryFor": f"milliseconds from 0 to {MAX_RETRY_FOR_MS} (a year) or a timedelta",
    "queue": f"a queue name (1 to {ID_MAX_LENGTH} characters without control characters) "
    "or an object {name, maxConcurrency}",
    "celery_queue": f"a Celery queue name of 1 to {ID_MAX_LENGTH} characters without control "
    "characters",
    "priority": "one of 'low', 'default' (or 'medium'), 'high'",
    "id": f"a string of 1 to {ID_MAX_LENGTH} characters without whitespace",
    "onDuplicateID": "one of 'error', 'ignore'",
    "retries.retryCount": f"an int from 0 to {MAX_RETRY_COUNT}",
    "retries.initialInterval": f"milliseconds from 0 to {MAX_INTERVAL_MS} (30 days) or a timedelta",
    "retries.maxInterval": f"milliseconds from 0 to {MAX_INTERVAL_MS} (30 days) or a timedelta",
    "retries.backoffFactor": "a number from 1 to 1000",
    "retries.randomizeInterval": "true or false",
    "queue.name": f"a string of 1 to {ID_MAX_LENGTH} characters without control characters",
    "queue.maxConcurrency": f"an int from 1 to {MAX_CONCURRENCY}",
}
_KNOWN_TOP = [
    "startAt",
    "start_at",
    "retries",
    "retryFor",
    "retry_for",
    "queue",
    "priority",
    "id",
    "onDuplicateID",
    "on_duplicate_id",
    "celery_queue",
]
_KNOWN_NESTED = {
    "retries": [
        "retryCount",
        "initialInterval",
        "maxInterval",
        "backoffFactor",
        "randomizeInterval",
    ],
    "queue": ["name", "maxConcurrency"],
}


def _field_path(loc: tuple[Any, ...]) -> str:
    # pydantic adds union-member tags ("int", "RetryPolicy", "str", ...) to locations.
    parts = [str(p) for p in loc if not (isinstance(p, str) and (p[:1].isupper() or p in _TAGS))]
    return ".".join(DISPLAY.get(p, p) for p in parts)


_TAGS = {"int", "str", "function-after[_ms(), int]", "lax-or-strict", "json-or-python"}


def explain(err: ValidationError) -> InvalidOptions:
    """The error for a failed validation of enqueue options: the field and what it allows,
    or the nearest known key for an unknown one."""
    errors = err.errors()
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    # An unknown key explains the others; otherwise take the most specific error of a union.
    first = unknown[0] if unknown else max(errors, key=lambda e: len(e["loc"]))
    path = _field_path(first["loc"])
    if first["type"] == "extra_forbidden":
        parent, _, key = path.rpartition(".")
        known = _KNOWN_NESTED.get(parent, _KNOWN_TOP)
        hint = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
        hint_text = f" (did you mean {hint[0]!r}?)" if hint else ""
        where = f"option {parent!r}" if parent else "enqueue options"
        return InvalidOptions(
            f"unknown key {key!r} in {where}{hint_text}. Known keys: {', '.join(known)}",
            field=path,
        )
    top = path.split(".")[0]
    allowed = _ALLOWED.get(path) or _ALLOWED.get(top, first["msg"])
    return InvalidOptions(
        f"invalid option {path!r}: expected {allowed}; got {shown(first.get('input'))}",
        field=path,
    )


def shown(value: Any, limit: int = 80) -> str:
    """A value for an error message, cut short (it may be hostile or huge)."""
    try:
        text = repr(value)
    except Exception:  # a repr that fails (recursive, broken) says nothing useful
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."
