"""The Celery app the integration tests run in worker subprocesses.

Configured from the environment: REDIS_URL (broker, results, coordination), BROKER_URL to
use another broker (RabbitMQ), and ACTIONS_* settings (see celery_actions.core.settings).
Actions record what they did in Redis so tests can observe them from outside.
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis
from celery import Celery

from celery_actions import Actions
from celery_actions.testing import wait_for

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
BROKER_URL = os.environ.get("BROKER_URL", REDIS_URL)

# BACKEND_URL: a result backend apart from the coordination Redis (results then go through
# Celery's backend instead of finish.lua).
app = Celery("tests", broker=BROKER_URL, backend=os.environ.get("BACKEND_URL", REDIS_URL))
app.conf.actions_redis_url = REDIS_URL
transport_options: dict[str, object] = {}
if "VISIBILITY_TIMEOUT" in os.environ:
    transport_options.update(
        visibility_timeout=float(os.environ["VISIBILITY_TIMEOUT"]),
        unacked_restore_interval=0.2,
        unacked_restore_throttle=1,
    )
app.conf.broker_transport_options = transport_options
actions = Actions(app)
r = redis.Redis.from_url(REDIS_URL, decode_responses=True)


class CustomError(Exception):
    """An error type the tests expect back from result()."""


def _now_ms() -> int:
    return int(time.time() * 1000)


@actions.action
def add(a: int, b: int = 0) -> int:
    return a + b


@actions.action(retries=0)
def always_fail(message: str) -> None:
    raise CustomError(message)


@actions.action
def fail_times(key: str, times: int) -> int:
    """Fails the first ``times`` attempts; records each attempt's start (ms) in ``key``."""
    n = r.rpush(key, _now_ms())
    if n <= times:
        raise ValueError(f"attempt {n} fails")
    return int(n)


@actions.action(retries=0)
def record(key: str, value: str) -> str:
    r.rpush(key, value)
    return value


def _hold(key: str, release: str, timeout: float) -> None:
    r.rpush(key, "started")
    wait_for(lambda: r.exists(release), timeout, interval=0.01, what=f"{release} (never released)")


@actions.action(retries=0)
def hold(key: str, release: str, timeout: float = 30.0) -> str:
    """Marks itself started in ``key`` and runs until ``release`` exists in Redis."""
    _hold(key, release, timeout)
    return "released"


@actions.action(retries=0)
def hold_then_fail(key: str, release: str, message: str, timeout: float = 30.0) -> None:
    """Like ``hold``, then fails with ``CustomError(message)`` once released."""
    _hold(key, release, timeout)
    raise CustomError(message)


@actions.action(retries=0)
def slow(key: str, seconds: float) -> str:
    """Counts its starts in ``key``, then sleeps."""
    r.rpush(key, _now_ms())
    time.sleep(seconds)
    return "done"


@actions.action(retries=3, name="tests.custom_name")
def named(x: str) -> str:
    return x.upper()


_ENTER = """
local c = redis.call('INCR', KEYS[1])
if c > tonumber(redis.call('GET', KEYS[2]) or '0') then redis.call('SET', KEYS[2], c) end
return c
"""


@actions.action(retries=0)
def gated(key: str, ms: int) -> int:
    """Records how many run at once: ``<key>:now`` and its maximum ``<key>:max``."""
    current = int(r.eval(_ENTER, 2, f"{key}:now", f"{key}:max"))
    r.rpush(f"{key}:log", _now_ms())
    time.sleep(ms / 1000)
    r.decr(f"{key}:now")
    return current


@actions.action(retries={"retryCount": 1, "initialInterval": 10}, celery_options={"time_limit": 1})
def too_slow(key: str, seconds: float) -> str:
    """Killed by its 1 s hard time limit (on a prefork worker)."""
    r.rpush(key, _now_ms())
    time.sleep(seconds)
    return "done"


@actions.action(retries=0)
def echo(payload: Any = None) -> Any:
    """Returns its payload (params of any shape)."""
    return payload
