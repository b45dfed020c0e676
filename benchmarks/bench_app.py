"""The Celery app the benchmarks run: actions and their plain ``@app.task`` twins.

Configured from the environment like ``tests/app.py``: REDIS_URL is the broker, the result
backend and celery-actions' coordination store. Both sides share this one app, so they get
the same Celery configuration (``Actions(app)`` installs its defaults: prefetch 1, task
events on, sent events on, extended results, priority steps) and run in the same worker.

Each pair has identical bodies. ``count_*`` increments a Redis counter (and stamps the
first start and the last increment) so a benchmark can detect completion by polling one
key instead of waiting on results; ``stamp_*`` pushes its start time (``time.time()``)
to a list the benchmark blocks on.
"""

from __future__ import annotations

import os
import time

import redis
from celery import Celery

from celery_actions import Actions

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
# ``--raw-acks-late``: give the plain tasks ActionTask's late ack (a fairness variant).
RAW_ACKS_LATE = os.environ.get("BENCH_RAW_ACKS_LATE", "") == "1"

app = Celery("bench", broker=REDIS_URL, backend=REDIS_URL)
app.conf.actions_redis_url = REDIS_URL
actions = Actions(app)
r = redis.Redis.from_url(REDIS_URL)


def _count(key: str, total: int) -> None:
    started = time.time()
    n = r.incr(key)
    if n == 1:
        r.set(f"{key}:first", repr(started))
    if n == total:
        r.set(f"{key}:last", repr(time.time()))


def _stamp(key: str) -> None:
    r.rpush(key, repr(time.time()))


# -- celery-actions --------------------------------------------------------------------


@actions.action
def noop_action(n: int, payload: str = "") -> None:
    """Does nothing (enqueue cost only; no worker runs it)."""


@actions.action
def count_action(key: str, total: int) -> None:
    """Counts itself (throughput)."""
    _count(key, total)


@actions.action
def stamp_action(key: str) -> None:
    """Records when it started (latency)."""
    _stamp(key)


# -- raw Celery, same bodies -----------------------------------------------------------


@app.task(name="bench.noop_task", acks_late=RAW_ACKS_LATE)
def noop_task(n: int, payload: str = "") -> None:
    """Does nothing (enqueue cost only; no worker runs it)."""


@app.task(name="bench.count_task", acks_late=RAW_ACKS_LATE)
def count_task(key: str, total: int) -> None:
    """Counts itself (throughput)."""
    _count(key, total)


@app.task(name="bench.stamp_task", acks_late=RAW_ACKS_LATE)
def stamp_task(key: str) -> None:
    """Records when it started (latency)."""
    _stamp(key)
