"""Start-up checks of the Redis server celery-actions coordinates through."""

from __future__ import annotations

import redis

from ..errors import ConfigurationError


def check_redis(client: redis.Redis) -> list[str]:
    """Refuse a Redis that can evict our keys; returns warnings for merely risky settings.

    A policy only matters when ``maxmemory`` is set: with 0 (no limit) nothing is evicted.
    """
    try:
        config = client.config_get("maxmemory*")
    except redis.ResponseError:
        return ["cannot read Redis maxmemory-policy (CONFIG disabled); make sure it is noeviction"]
    policy = str(config.get("maxmemory-policy", ""))
    if int(config.get("maxmemory", 0) or 0) == 0:
        return []
    if policy.startswith("allkeys"):
        raise ConfigurationError(
            f"Redis maxmemory-policy is {policy!r} with maxmemory set: it can evict "
            "celery-actions' leases and schedules, losing jobs and leaking queue slots. Set "
            "maxmemory-policy noeviction (or a volatile-* policy) on the Redis at "
            "actions_redis_url."
        )
    if policy.startswith("volatile"):
        return [
            f"Redis maxmemory-policy is {policy!r}: finished job records may be evicted "
            "before actions_retention; noeviction is safest"
        ]
    return []
