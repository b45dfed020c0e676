"""Settings read from ``app.conf`` (``actions_*``), with environment-variable fallbacks.

In Django, with ``app.config_from_object("django.conf:settings", namespace="CELERY")``,
the same settings are spelled ``CELERY_ACTIONS_*``. :data:`SETTINGS` is the one list of
them: defaults and docs (docs/operations.md's table is checked against it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlparse

from ..errors import ConfigurationError

Environment = Literal["production", "development"]
DEFAULT_PREFIX = "actions:"


@dataclass(frozen=True, slots=True)
class SettingSpec:
    """One ``actions_*`` setting."""

    name: str
    default: Any
    doc: str


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec("environment", "production", "`production` or `development`: retry defaults"),
    SettingSpec("redis_url", None, "the coordinating Redis; default: the broker's, if Redis"),
    SettingSpec("key_prefix", DEFAULT_PREFIX, "prefix of every key (one environment each)"),
    SettingSpec("lease_timeout", 30.0, "seconds a running action's lease lasts unrenewed"),
    SettingSpec("pump_interval", 1.0, "seconds between pump passes at most"),
    SettingSpec(
        "retention_completed",
        24 * 3600.0,
        "seconds a completed record (and its result) is kept",
    ),
    SettingSpec(
        "retention_failed",
        7 * 24 * 3600.0,
        "seconds a failed or cancelled record (its error, timeline and result) is kept",
    ),
    SettingSpec("retention", None, "seconds every finished record is kept, if set (both above)"),
    SettingSpec(
        "dispatch_timeout",
        30.0,
        "seconds a dispatched job may stay unclaimed before the pump "
        "looks for its message in the broker (and dispatches it again if it was lost)",
    ),
    SettingSpec("outbox_timeout", 15.0, "seconds before an unconfirmed publish is sent again"),
    SettingSpec("max_worker_lost", 3, "worker deaths tolerated per action before it fails"),
    SettingSpec("enqueue_rate_limit", None, "`200/s`, `12000/m`, a number per second or `gadget`"),
    SettingSpec("enqueue_burst", 3.0, "how far past the rate limit a burst may go (x rate)"),
    SettingSpec(
        "max_params_bytes",
        256 * 1024,
        "the largest params (as JSON) an enqueue accepts; pass ids, not records",
    ),
)
DEFAULTS: dict[str, Any] = {spec.name: spec.default for spec in SETTINGS}


def is_redis_url(url: Any) -> bool:
    """Whether ``url`` names a Redis server."""
    return isinstance(url, str) and url.split("://", 1)[0] in ("redis", "rediss", "unix")


@dataclass(frozen=True, slots=True)
class Settings:
    """celery-actions settings, validated once. Durations are seconds."""

    environment: Environment
    redis_url: str
    key_prefix: str
    lease_timeout_s: float
    pump_interval_s: float
    retention_completed_s: float
    retention_failed_s: float
    dispatch_timeout_s: float
    outbox_timeout_s: float
    max_worker_lost: int
    enqueue_rate_limit: str | None
    enqueue_burst: float
    max_params_bytes: int

    @classmethod
    def from_conf(cls, conf: Mapping[str, Any]) -> Settings:
        """Read ``actions_*`` from a Celery config (env ``ACTIONS_*`` as fallback)."""

        def get(name: str) -> Any:
            value = conf.get(f"actions_{name}")
            if value is None:
                value = os.environ.get(f"ACTIONS_{name.upper()}")
            return DEFAULTS[name] if value is None else value

        environment = str(get("environment")).lower()
        if environment not in ("production", "development"):
            raise ConfigurationError(
                f"actions_environment must be 'production' or 'development', got {environment!r}"
            )
        redis_url = get("redis_url")
        if redis_url is None:
            for candidate in (conf.get("broker_url"), conf.get("result_backend")):
                if is_redis_url(candidate):
                    redis_url = candidate
                    break
        if not is_redis_url(redis_url):
            raise ConfigurationError(
                "celery-actions coordinates through Redis: set actions_redis_url "
                "(the broker is not Redis, so it cannot be used)"
            )

        def number(name: str, kind: type[float] | type[int] = float) -> Any:
            value = get(name)
            try:
                return kind(value)
            except (TypeError, ValueError, OverflowError):
                raise ConfigurationError(
                    f"actions_{name} must be a number, got {value!r}"
                ) from None

        retention = get("retention")
        if retention:
            retention = number("retention")
        settings = cls(
            environment=environment,  # type: ignore[arg-type]
            redis_url=str(redis_url),
            key_prefix=str(get("key_prefix")),
            lease_timeout_s=number("lease_timeout"),
            pump_interval_s=number("pump_interval"),
            retention_completed_s=retention or number("retention_completed"),
            retention_failed_s=retention or number("retention_failed"),
            dispatch_timeout_s=number("dispatch_timeout"),
            outbox_timeout_s=number("outbox_timeout"),
            max_worker_lost=number("max_worker_lost", int),
            enqueue_rate_limit=get("enqueue_rate_limit"),
            enqueue_burst=number("enqueue_burst"),
            max_params_bytes=number("max_params_bytes", int),
        )
        for name in (
            "lease_timeout_s",
            "pump_interval_s",
            "retention_completed_s",
            "retention_failed_s",
            "dispatch_timeout_s",
            "outbox_timeout_s",
        ):
            if not getattr(settings, name) > 0:
                raise ConfigurationError(f"actions_{name[:-2]} must be > 0")
        if settings.max_params_bytes < 1024:
            raise ConfigurationError("actions_max_params_bytes must be >= 1024")
        if settings.max_worker_lost < 0:
            raise ConfigurationError("actions_max_worker_lost must be >= 0")
        return settings

    def retention_s(self, completed: bool) -> float:
        """How long a finished record is kept: completed, or failed or cancelled."""
        return self.retention_completed_s if completed else self.retention_failed_s

    @staticmethod
    def ms(seconds: float) -> int:
        """Seconds to whole milliseconds, as the Lua scripts take them."""
        return int(seconds * 1000)


def redis_location(url: str) -> tuple[str, int, int]:
    """(host, port, db) of a Redis URL: two URLs with one location share a database."""
    parsed = urlparse(url)
    db = (parsed.path or "/0").strip("/") or "0"
    return (parsed.hostname or "localhost", parsed.port or 6379, int(db))
