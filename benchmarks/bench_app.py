"""The Celery app the benchmarks run: actions and their plain ``@app.task`` twins.

Configured from the environment like ``tests/app.py``: REDIS_URL is the broker, the result
backend and celery-actions' coordination store. Both sides share this one app, so they get
the same Celery configuration (``Actions(app)`` installs its defaults: prefetch 1, task
events on, sent events on, extended results, priority steps) and run in the same worker.

Each pair has identical bodies. ``count_*`` increments a Redis counter (and stamps the
first start and the last increment) so a benchmark can detect completion by polling one
key instead of waiting on results; ``stamp_*`` pushes its start time (``time.time()``)
to a list the benchmark blocks on.

``gate_action`` (the queue-gate benchmarks, enqueued with a ``queue`` option) counts how
many of its runs overlap, keeping the maximum in Redis, sleeps, and pushes its start and
end times. ``plain_noop`` is what the RQ side of the bulk benchmark enqueues.
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


# KEYS[1] running counter, KEYS[2] its maximum so far. Returns the new count.
_ENTER = r.register_script(
    "local n = redis.call('INCR', KEYS[1]) "
    "if n > tonumber(redis.call('GET', KEYS[2]) or '0') then redis.call('SET', KEYS[2], n) end "
    "return n"
)


def _gate_body(key: str, sleep_ms: float) -> None:
    """Count overlapping runs (max kept in ``<key>:max``), sleep, push ``start end``.

    The body lasts ``sleep_ms`` from its start stamp, the counting round trip included
    (it sleeps until then), so the instrumentation does not lengthen it.
    """
    started = time.time()
    _ENTER(keys=[f"{key}:running", f"{key}:max"])
    if sleep_ms > 0:
        time.sleep(max(0.0, started + sleep_ms / 1000 - time.time()))
    r.decr(f"{key}:running")
    ended = time.time()
    pipe = r.pipeline(transaction=False)
    pipe.rpush(f"{key}:spans", f"{started!r} {ended!r}")
    pipe.incr(f"{key}:done")
    pipe.execute()


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


@actions.action
def gate_action(key: str, sleep_ms: float = 0.0) -> None:
    """Counts overlapping runs, sleeps, records its start and end (queue-gate benchmarks)."""
    _gate_body(key, sleep_ms)


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


# -- peers -----------------------------------------------------------------------------


def plain_noop(n: int, payload: str = "") -> None:
    """Does nothing: the function RQ's side of the bulk enqueue benchmark names."""
