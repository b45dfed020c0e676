"""Enqueue options: pydantic models for both spellings, and their error messages.

Options arrive as Gadget's camelCase dict (``{"startAt": ..., "retries": {...}}``) or as
Python keyword arguments (``start_at=..., retries=...``). Both validate through the same
models here; precedence and defaults are applied in ``resolve.py``.
"""

from __future__ import annotations

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
from .limits import (
    ID_MAX_LENGTH,
    MAX_CONCURRENCY,
    MAX_INTERVAL_MS,
    MAX_RETRY_COUNT,
    MAX_RETRY_FOR_MS,
    MAX_START_AHEAD,
    NAME_PATTERN,
)
from .option_errors import DISPLAY, explain, shown
from .priority import Priority


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

    name: str = Field(min_length=1, max_length=ID_MAX_LENGTH, pattern=NAME_PATTERN)
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
        None, min_length=1, max_length=ID_MAX_LENGTH, pattern=NAME_PATTERN
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
        raise explain(exc) from None
    except (ValueError, TypeError, RecursionError, OverflowError) as exc:
        raise InvalidOptions(f"invalid enqueue options: {shown(exc)}", field="options") from None


def _no_spelling_twice(options: Mapping[str, Any]) -> None:
    """One option given in both spellings (``startAt`` and ``start_at``) is an error."""
    seen: dict[str, str] = {}
    for key in options:
        field = _SPELLINGS.get(key) if isinstance(key, str) else None
        if field is None:
            continue
        if field in seen:
            raise InvalidOptions(
                f"option {DISPLAY[field]!r} given twice, as {seen[field]!r} and {key!r}",
                field=DISPLAY[field],
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
