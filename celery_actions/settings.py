"""Settings read from ``app.conf`` (``actions_*``), with environment-variable fallbacks.

In Django, with ``app.config_from_object("django.conf:settings", namespace="CELERY")``,
the same settings are spelled ``CELERY_ACTIONS_*``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from .errors import ConfigurationError
from .keys import DEFAULT_PREFIX
from .options import Environment

DEFAULTS: dict[str, Any] = {
    "environment": "production",
    "redis_url": None,
    "key_prefix": DEFAULT_PREFIX,
    "lease_timeout": 30.0,
    "pump_interval": 1.0,
    "retention": 7 * 24 * 3600.0,
    "dispatch_timeout": 300.0,
    "outbox_timeout": 15.0,
    "max_worker_lost": 3,
    "enqueue_rate_limit": None,
    "enqueue_burst": 3.0,
}


def _redis_scheme(url: Any) -> bool:
    return isinstance(url, str) and url.split("://", 1)[0] in ("redis", "rediss", "unix")


@dataclass(frozen=True, slots=True)
class Settings:
    """celery-actions settings, validated once. Durations are seconds."""

    environment: Environment
    redis_url: str
    key_prefix: str
    lease_timeout_s: float
    pump_interval_s: float
    retention_s: float
    dispatch_timeout_s: float
    outbox_timeout_s: float
    max_worker_lost: int
    enqueue_rate_limit: str | None
    enqueue_burst: float

    @classmethod
    def from_conf(cls, conf: Any) -> Settings:
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
                if _redis_scheme(candidate):
                    redis_url = candidate
                    break
        if not _redis_scheme(redis_url):
            raise ConfigurationError(
                "celery-actions coordinates through Redis: set actions_redis_url "
                "(the broker is not Redis, so it cannot be used)"
            )
        settings = cls(
            environment=environment,  # type: ignore[arg-type]
            redis_url=str(redis_url),
            key_prefix=str(get("key_prefix")),
            lease_timeout_s=float(get("lease_timeout")),
            pump_interval_s=float(get("pump_interval")),
            retention_s=float(get("retention")),
            dispatch_timeout_s=float(get("dispatch_timeout")),
            outbox_timeout_s=float(get("outbox_timeout")),
            max_worker_lost=int(get("max_worker_lost")),
            enqueue_rate_limit=get("enqueue_rate_limit"),
            enqueue_burst=float(get("enqueue_burst")),
        )
        for name in ("lease_timeout_s", "pump_interval_s", "retention_s", "outbox_timeout_s"):
            if getattr(settings, name) <= 0:
                raise ConfigurationError(f"actions_{name[:-2]} must be > 0")
        return settings

    def ms(self, seconds: float) -> int:
        """Seconds to whole milliseconds, as the Lua scripts take them."""
        return int(seconds * 1000)
