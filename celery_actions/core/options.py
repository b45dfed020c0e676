"""Enqueue options: pydantic models for both spellings, and their error messages.

Options arrive as Gadget's camelCase dict (``{"startAt": ..., "retries": {...}}``) or as
Python keyword arguments (``start_at=..., retries=...``). Both validate through the same
models here; precedence and defaults are applied in ``resolve.py``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from ..errors import InvalidOptions
from .priority import Priority

MAX_CONCURRENCY = 100
ID_MAX_LENGTH = 200
MAX_RETRY_COUNT = 10_000
MAX_INTERVAL_MS = 30 * 24 * 3600 * 1000
"""A retry delay (initialInterval, maxInterval) is at most 30 days."""
MAX_RETRY_FOR_MS = 365 * 24 * 3600 * 1000
"""Retries may go on for at most a year after the first attempt."""
MAX_START_AHEAD = timedelta(days=36_525)
"""startAt is at most a hundred years ahead (and any time in the past: it then runs now)."""
_NAME_PATTERN = r"^[^\x00-\x1f\x7f]+$"


def _to_ms(value: Any) -> Any:
    """Durations: an int or float of milliseconds, or a ``timedelta``."""
    if isinstance(value, timedelta):
        return int(value.total_seconds() * 1000)
    return value


def _no_text(value: Any) -> Any:
    """Numbers must be numbers: reject strings and bools that pydantic would coerce."""
    if isinstance(value, str | bool):
        raise ValueError("not a number")
    return value


def _text(value: Any) -> Any:
    """Strings must be encodable text (no lone surrogates)."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError("not valid Unicode text") from None
    return value


def _choices(*names: str) -> AliasChoices:
    return AliasChoices(*names)


_STRICT = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RetryPolicy(BaseModel):
    """The ``retries`` object. Intervals are milliseconds (or a ``timedelta``)."""

    model_config = _STRICT

    retry_count: int | None = Field(
        None, ge=0, le=MAX_RETRY_COUNT, validation_alias=_choices("retryCount", "retry_count")
    )
    initial_interval_ms: int = Field(
        1000,
        ge=0,
        le=MAX_INTERVAL_MS,
        validation_alias=_choices("initialInterval", "initial_interval", "initial_interval_ms"),
    )
    max_interval_ms: int | None = Field(
        None,
        ge=0,
        le=MAX_INTERVAL_MS,
        validation_alias=_choices("maxInterval", "max_interval", "max_interval_ms"),
    )
    backoff_factor: float = Field(
        2.0, ge=1.0, le=1000.0, validation_alias=_choices("backoffFactor", "backoff_factor")
    )
    randomize_interval: bool = Field(
        False, validation_alias=_choices("randomizeInterval", "randomize_interval")
    )

    _ms = field_validator("initial_interval_ms", "max_interval_ms", mode="before")(
        lambda v: _no_text(_to_ms(v))
    )
    _count = field_validator("retry_count", "backoff_factor", mode="before")(_no_text)


class QueueOption(BaseModel):
    """The ``queue`` object: a named concurrency group with a global limit."""

    model_config = _STRICT

    name: str = Field(min_length=1, max_length=ID_MAX_LENGTH, pattern=_NAME_PATTERN)
    max_concurrency: int = Field(
        1, ge=1, le=MAX_CONCURRENCY, validation_alias=_choices("maxConcurrency", "max_concurrency")
    )

    _limit = field_validator("max_concurrency", mode="before")(_no_text)
    _name = field_validator("name", mode="before")(_text)


class EnqueueOptions(BaseModel):
    """Everything ``enqueue`` accepts. Unset fields stay unset (``model_fields_set``)."""

    model_config = _STRICT

    start_at: AwareDatetime | None = Field(None, validation_alias=_choices("startAt", "start_at"))
    retries: int | RetryPolicy | None = Field(None)
    retry_for_ms: int | None = Field(
        None,
        ge=0,
        le=MAX_RETRY_FOR_MS,
        validation_alias=_choices("retryFor", "retry_for", "retry_for_ms"),
    )
    queue: str | QueueOption | None = Field(None)
    priority: Priority | None = Field(None)
    id: str | None = Field(
        None, min_length=1, max_length=ID_MAX_LENGTH, pattern=r"^[^\s\x00-\x1f\x7f]+$"
    )
    on_duplicate_id: Literal["error", "ignore"] | None = Field(
        None, validation_alias=_choices("onDuplicateID", "on_duplicate_id")
    )
    celery_queue: str | None = Field(
        None, min_length=1, max_length=ID_MAX_LENGTH, pattern=_NAME_PATTERN
    )

    _texts = field_validator("id", "celery_queue", mode="before")(_text)

    @field_validator("start_at", mode="before")
    @classmethod
    def _start_at(cls, v: Any) -> Any:
        if v is None:
            return v
        if isinstance(v, str):
            text = _text(v).strip()
            text = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
            try:  # ISO 8601 only: pydantic would take a bare number as a Unix time
                v = datetime.fromisoformat(text)
            except ValueError:
                raise ValueError("not an ISO 8601 datetime") from None
        if not isinstance(v, datetime):
            raise ValueError("not a datetime or string")
        if v.tzinfo is None or v.utcoffset() is None:
            raise ValueError("no timezone offset")
        try:
            utc = v.astimezone(UTC)
        except OverflowError:
            raise ValueError("out of range") from None
        if utc - datetime.now(UTC) > MAX_START_AHEAD:
            raise ValueError("more than a hundred years ahead")
        return utc

    @field_validator("retries", mode="before")
    @classmethod
    def _retries(cls, v: Any) -> Any:
        if isinstance(v, Mapping | RetryPolicy):
            return v
        if isinstance(v, str | bool) or not isinstance(v, int) or not 0 <= v <= MAX_RETRY_COUNT:
            raise ValueError(f"not an int from 0 to {MAX_RETRY_COUNT}")
        return v

    @field_validator("queue", mode="before")
    @classmethod
    def _queue(cls, v: Any) -> Any:
        if isinstance(v, str):  # the short form: checked as the object form's name
            try:
                return QueueOption(name=v).name
            except ValidationError:
                raise ValueError("not a valid queue name") from None
        return v

    @field_validator("retry_for_ms", mode="before")
    @classmethod
    def _retry_for(cls, v: Any) -> Any:
        return _no_text(_to_ms(v))

    @field_validator("priority", mode="before")
    @classmethod
    def _priority(cls, v: Any) -> Any:
        if isinstance(v, Priority):
            return v
        if isinstance(v, str):
            lowered = v.strip().lower()
            return "default" if lowered == "medium" else lowered
        return v


# The user-facing name of each field, in the spelling used in error messages.
_DISPLAY = {
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
    return ".".join(_DISPLAY.get(p, p) for p in parts)


_TAGS = {"int", "str", "function-after[_ms(), int]", "lax-or-strict", "json-or-python"}


def _explain(err: ValidationError) -> InvalidOptions:
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
        f"invalid option {path!r}: expected {allowed}; got {_shown(first.get('input'))}",
        field=path,
    )


def _shown(value: Any, limit: int = 80) -> str:
    """A value for an error message, cut short (it may be hostile or huge)."""
    try:
        text = repr(value)
    except Exception:  # a repr that fails (recursive, broken) says nothing useful
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_options(options: Mapping[str, Any] | None, **kwargs: Any) -> EnqueueOptions:
    """Validate options given as a dict, as keyword arguments, or both."""
    merged: dict[str, Any] = {}
    if options is not None:
        if not isinstance(options, Mapping):
            raise InvalidOptions(
                f"options must be a dict, got {type(options).__name__}", field="options"
            )
        merged.update(options)
    for key, value in kwargs.items():
        if key in merged:
            raise InvalidOptions(f"option {key!r} given twice", field=key)
        merged[key] = value
    _no_spelling_twice(merged)
    if isinstance(merged.get("queue"), Mapping):
        merged["queue"] = dict(merged["queue"])
    try:
        return EnqueueOptions.model_validate(merged)
    except ValidationError as exc:
        raise _explain(exc) from None
    except (ValueError, TypeError, RecursionError, OverflowError) as exc:
        raise InvalidOptions(f"invalid enqueue options: {_shown(exc)}", field="options") from None


def _no_spelling_twice(options: Mapping[str, Any]) -> None:
    """One option given in both spellings (``startAt`` and ``start_at``) is an error."""
    seen: dict[str, str] = {}
    for key in options:
        field = _SPELLINGS.get(key) if isinstance(key, str) else None
        if field is None:
            continue
        if field in seen:
            raise InvalidOptions(
                f"option {_DISPLAY[field]!r} given twice, as {seen[field]!r} and {key!r}",
                field=_DISPLAY[field],
            )
        seen[field] = key


_SPELLINGS = {
    alias: name
    for name, info in EnqueueOptions.model_fields.items()
    for alias in (
        name,
        *(info.validation_alias.choices if isinstance(info.validation_alias, AliasChoices) else ()),
    )
    if isinstance(alias, str)
}
