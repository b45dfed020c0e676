"""The Celery app the integration tests run in worker subprocesses.

Configured from the environment: REDIS_URL (broker, results, coordination), BROKER_URL to
use another broker (RabbitMQ), and ACTIONS_* settings (see celery_actions.core.settings).
Actions record what they did in Redis so tests can observe them from outside.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import redis
from celery import Celery, Task

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
app.conf.beat_schedule = json.loads(os.environ.get("BEAT_SCHEDULE", "{}"))
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


# -- Celery's own idioms (canvas, retry tools, bases) ------------------------------------


@app.task(name="tests.app.plain_add")
def plain_add(x: int, y: int = 0) -> int:
    """A plain Celery task, mixed with actions in canvases."""
    return x + y


@app.task(name="tests.app.plain_record")
def plain_record(value: Any, key: str) -> Any:
    """A plain task that records what it was given (a link's parent result first)."""
    r.rpush(key, json.dumps(value))
    return value


@app.task(name="tests.app.plain_total")
def plain_total(values: list[int]) -> int:
    """A plain chord callback."""
    return sum(values)


@actions.action(retries=0)
def double(x: int) -> int:
    """Doubles its first param (a parent's result arrives here in a chain)."""
    return 2 * x


@actions.action(retries=0, priority="low")
def patient(x: int) -> int:
    """Declared low priority: a foreign message that gives none keeps it."""
    return x


@actions.action(retries=0)
def total(values: list[int], key: str = "") -> int:
    """An action chord callback: sums the header's results."""
    if key:
        r.rpush(key, json.dumps(values))
    return sum(values)


@actions.action(retries=0)
def on_error(failed_id: str, key: str) -> str:
    """An action used as link_error: gets the failed task's id first."""
    r.rpush(key, failed_id)
    return failed_id


@actions.action(retries={"retryCount": 2, "initialInterval": 10})
def flaky(key: str, fails: int) -> int:
    """Fails its first ``fails`` attempts (each a retry, not a failure of a chain)."""
    n = r.rpush(key, _now_ms())
    if n <= fails:
        raise ValueError(f"attempt {n} fails")
    return int(n)


@actions.action(celery_options={"bind": True})
def bound_retry(self: Any, key: str, fails: int, countdown: float = 0.05) -> dict[str, Any]:
    """Asks for its retries with Celery's self.retry(countdown=)."""
    n = r.rpush(key, _now_ms())
    if n <= fails:
        raise self.retry(exc=ValueError(f"attempt {n}"), countdown=countdown, max_retries=3)
    return {"attempts": n, "retries": self.request.retries, "id": self.request.id}


@actions.action(celery_options={"autoretry_for": (KeyError,), "max_retries": 2,
                                "retry_backoff": 0.05, "retry_jitter": False})  # fmt: skip
def auto_retry(key: str, error: str) -> int:
    """Raises KeyError (retried) or another error (not retried, as autoretry_for says)."""
    n = r.rpush(key, _now_ms())
    if error == "key" and n <= 2:
        raise KeyError(f"attempt {n}")
    if error == "value":
        raise ValueError("not retried")
    return int(n)


class AuditedTask(Task):
    """A custom base: its hook records every success."""

    def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None:
        r.rpush(f"audit-{task_id}", json.dumps(retval))


@actions.action(retries=0, celery_options={"base": AuditedTask})
def audited(x: int) -> int:
    return x + 1


@actions.action(retries={"retryCount": 1, "initialInterval": 10})
async def async_add(key: str, a: int, b: int = 0) -> int:
    """An async action: awaits, then returns."""
    await asyncio.sleep(0.01)
    r.rpush(key, "ran")
    return a + b


@actions.action(retries=0, celery_options={"bind": True})
def request_info(self: Any) -> dict[str, Any]:
    """What its worker-side request says: custom headers, retries, lineage."""
    headers = {k: v for k, v in (self.request.headers or {}).items() if k != "actions_token"}
    return {"headers": headers, "retries": self.request.retries,
            "root_id": self.request.root_id, "parent_id": self.request.parent_id}  # fmt: skip


@actions.action(retries=0, queue={"name": "declared-limit", "maxConcurrency": 1})
def limited(key: str, ms: int) -> int:
    """Declares its own limit-1 queue; records how many run at once (as ``gated``)."""
    return int(gated.run(key=key, ms=ms))
