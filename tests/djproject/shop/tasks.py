"""django.tasks tasks of the shop (found by Celery's autodiscovery of ``tasks.py``)."""

from __future__ import annotations

import os

import redis

try:
    from django.tasks import task
except ImportError:  # Django < 6: the backport
    from django_tasks import task

from . import signals  # noqa: F401 - records the signals in Redis

r = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))


@task
def add(a: int, b: int = 0) -> int:
    return a + b


@task(priority=50, retries={"retryCount": 2, "initialInterval": 10})
def flaky(key: str, fails: int) -> str:
    """Fails the first ``fails`` attempts."""
    if r.incr(key) <= fails:
        raise ValueError(f"attempt {r.get(key).decode()} fails")
    return "ok"


@task(takes_context=True)
def with_context(context, key: str) -> int:  # type: ignore[no-untyped-def]
    r.rpush(key, context.attempt)
    return int(context.attempt)


@task
async def async_add(a: int, b: int) -> int:
    return a + b


@task(queue={"name": "one-at-a-time", "maxConcurrency": 1})
def limited(key: str) -> str:
    r.rpush(key, "ran")
    return "done"
