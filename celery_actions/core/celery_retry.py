"""Celery's retry settings of a task (``autoretry_for``, ``max_retries``,
``retry_backoff``, ...), given to an action as ``celery_options``, as that action's
declared retry policy: one policy, one retry decision (``retry.py``).

=======================  ================================================================
Celery setting           the action's retry policy
=======================  ================================================================
``max_retries``          ``retryCount`` (``None``: as many as ``retryFor`` allows)
``retry_backoff``        ``initialInterval`` (True: 1 s; n: n s), ``backoffFactor`` 2
``retry_backoff_max``    ``maxInterval`` (default 600 s, with ``retry_backoff``)
``retry_jitter``         ``randomizeInterval`` (default true, with ``retry_backoff``)
``default_retry_delay``  without backoff: a fixed delay (``initialInterval``, factor 1)
``retry_kwargs``         ``max_retries`` and ``countdown`` (a fixed delay) as above
``autoretry_for``        only these errors are retried; others fail at once
``dont_autoretry_for``   these errors are never retried
=======================  ================================================================

Where the action's own ``retries`` option sets the same thing differently, declaring it
raises InvalidOptions naming both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidOptions
from .limits import MAX_RETRY_COUNT

SETTINGS = (
    "max_retries",
    "retry_backoff",
    "retry_backoff_max",
    "retry_jitter",
    "default_retry_delay",
    "retry_kwargs",
    "autoretry_for",
    "dont_autoretry_for",
)
"""The Celery task settings this module takes over."""
_BACKOFF_MAX_S = 600
_SPELLINGS = {
    "retryCount": ("retryCount", "retry_count"),
    "initialInterval": ("initialInterval", "initial_interval", "initial_interval_ms"),
    "maxInterval": ("maxInterval", "max_interval", "max_interval_ms"),
    "backoffFactor": ("backoffFactor", "backoff_factor"),
    "randomizeInterval": ("randomizeInterval", "randomize_interval"),
}


@dataclass(frozen=True, slots=True)
class CeleryRetry:
    """The retry policy fields Celery's settings set, and which errors are retried."""

    policy: dict[str, Any]
    """Fields of the ``retries`` object (Gadget spelling)."""
    retry_on: tuple[type[BaseException], ...] | None
    """Only these are retried (``autoretry_for``); None: every error."""
    never_on: tuple[type[BaseException], ...]


def _errors(value: Any, name: str) -> tuple[type[BaseException], ...]:
    items = value if isinstance(value, list | tuple) else (value,)
    for item in items:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise InvalidOptions(f"{name} must be exception classes, got {item!r}", field=name)
    return tuple(items)


def _seconds_ms(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise InvalidOptions(f"{name} must be a number of seconds >= 0, got {value!r}", field=name)
    return int(value * 1000)


def from_settings(settings: Mapping[str, Any]) -> CeleryRetry:
    """The policy fields and error filters of Celery's retry settings."""
    policy: dict[str, Any] = {}
    retry_kwargs = dict(settings.get("retry_kwargs") or {})
    unknown = set(retry_kwargs) - {"max_retries", "countdown"}
    if unknown:
        raise InvalidOptions(
            f"retry_kwargs {sorted(unknown)} cannot apply to an action (max_retries and "
            "countdown can)",
            field="retry_kwargs",
        )
    if "max_retries" in settings or "max_retries" in retry_kwargs:
        count = retry_kwargs.get("max_retries", settings.get("max_retries"))
        policy["retryCount"] = MAX_RETRY_COUNT if count is None else count
    backoff = settings.get("retry_backoff")
    if backoff:
        initial = 1 if backoff is True else backoff
        policy["initialInterval"] = _seconds_ms(initial, "retry_backoff")
        policy["backoffFactor"] = 2
        policy["maxInterval"] = _seconds_ms(
            settings.get("retry_backoff_max", _BACKOFF_MAX_S), "retry_backoff_max"
        )
        policy["randomizeInterval"] = bool(settings.get("retry_jitter", True))
    elif retry_kwargs.get("countdown") is not None or "default_retry_delay" in settings:
        delay = retry_kwargs.get("countdown", settings.get("default_retry_delay"))
        policy["initialInterval"] = _seconds_ms(delay, "countdown")
        policy["backoffFactor"] = 1
    retry_on = None
    if settings.get("autoretry_for"):
        retry_on = _errors(settings["autoretry_for"], "autoretry_for")
    never = _errors(settings.get("dont_autoretry_for") or (), "dont_autoretry_for")
    return CeleryRetry(policy, retry_on, never)


def merged_retries(options: Mapping[str, Any], celery: CeleryRetry) -> Any:
    """The action's ``retries`` option with Celery's settings merged in; InvalidOptions
    where both set one field differently."""
    if not celery.policy:
        return options.get("retries")
    own = options.get("retries")
    if own is None:
        return dict(celery.policy)
    if isinstance(own, int) and not isinstance(own, bool):
        own = {"retryCount": own}
    if not isinstance(own, Mapping):
        return own  # not a valid option: parse_options names the problem
    for field, value in celery.policy.items():
        given = [own[name] for name in _SPELLINGS[field] if name in own]
        if given and given[0] != value:
            raise InvalidOptions(
                f"the action's retries.{field} is {given[0]!r} but its Celery retry settings "
                f"make it {value!r}: set it in one place",
                field=f"retries.{field}",
            )
    merged = {k: v for k, v in celery.policy.items() if not set(_SPELLINGS[k]) & set(own)}
    merged.update(own)
    return merged
