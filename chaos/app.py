"""The Celery app the chaos workers run. Configured from the environment (REDIS_URL and
ACTIONS_* settings). ``work`` records each attempt's start and each completion in Redis,
so the driver can count runs, overlaps and recoveries from outside."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import TypeVar

import redis
from celery import Celery, current_task

from celery_actions import Actions

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
app = Celery("chaos", broker=REDIS_URL, backend=REDIS_URL)
app.conf.actions_redis_url = REDIS_URL
app.conf.result_expires = 3600
actions = Actions(app)
r = redis.Redis.from_url(REDIS_URL, decode_responses=True)
T = TypeVar("T")


def _riding_out(command: Callable[[], T]) -> T:
    """Run a Redis command, riding out a restart or stall (the work itself goes on)."""
    while True:
        try:
            return command()
        except (redis.ConnectionError, redis.TimeoutError):
            time.sleep(0.05)


def _note(key: str, **fields: object) -> None:
    _riding_out(lambda: r.rpush(key, json.dumps(fields)))


@actions.action(retries={"retryCount": 3, "initialInterval": 50})
def work(job: str, ms: int, failures: int = 0) -> str:
    """Works ``ms`` milliseconds; the first ``failures`` attempts raise (and are retried)."""
    node = current_task.request.hostname or "?"
    started = time.time()
    _note("chaos:starts", job=job, node=node, at=started)
    attempt = _riding_out(lambda: r.incr(f"chaos:attempts:{job}"))
    time.sleep(ms / 1000)
    if attempt <= failures:
        _note("chaos:ends", job=job, node=node, start=started, end=time.time(), ok=False)
        raise RuntimeError(f"planned failure {attempt} of {failures}")
    _note("chaos:ends", job=job, node=node, start=started, end=time.time(), ok=True)
    _note(f"chaos:done:{job}", at=time.time())
    return job
