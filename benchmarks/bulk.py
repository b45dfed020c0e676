"""Benchmarks 7-9: bulk enqueue ("Bulk enqueue at Redis speed").

- Enqueue: ``actions.enqueue_many(noop_action, [params] * n)`` against a loop of raw
  Celery ``apply_async``, a loop of ``actions.enqueue``, RQ's ``Queue.enqueue_many``
  (``Queue.prepare_data`` items, one pipeline, as RQ documents), a Dramatiq ``send`` loop
  (its RedisBroker on another db of the same redis-server) and a raw redis-py pipelined
  LPUSH of payloads as large as one raw Celery message (batches of 1000: the ceiling);
  also ``enqueue_many`` with an ``id`` (given ids are checked under WATCH; info). No
  worker runs; everything is purged between sides (not timed); each round runs every side,
  the order rotating each round; the first round is a smaller warm-up and is discarded.
  The one-call-per-item loops run on fewer items (``loop_n``): compare rates per second.
- Memory: the peak resident memory of one ``enqueue_many`` call, 20k items against 200k,
  each in a fresh Python process (so earlier runs leave no freed memory to reuse), the
  input list of small dicts built first and not counted: VmHWM (reset just before the
  call through ``/proc/self/clear_refs``) minus VmRSS before the call. It runs against its
  own Redis db, flushed afterwards. "Flat" is the large peak within 1.5x the small one.
- End to end: ``n`` trivial counting actions through two workers, from the
  ``enqueue_many`` call until the last body's increment, against a raw ``apply_async``
  loop of the same bodies through the same two workers (info).
"""

from __future__ import annotations

import gc
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from celery_actions.testing.processes import wait_for

from .common import REPO_ROOT, BenchEnv, Row, log, median

ENQUEUE_MANY_VS_LOOP_TARGET = 10.0
ENQUEUE_MANY_VS_CEILING_TARGET = 0.25
FLAT_TARGET = 1.5
LPUSH_BATCH = 1000
RQ_DB, DRAMATIQ_DB, MEMORY_DB = 2, 3, 4
E2E_WORKERS = 2
PARAMS: dict[str, Any] = {"n": 1}
# side -> (label in the table, uses the loop size)
SIDES: dict[str, tuple[str, bool]] = {
    "enqueue_many": ("actions.enqueue_many", False),
    "enqueue_many_id": ("actions.enqueue_many with an id", False),
    "apply_async": ("apply_async loop", True),
    "enqueue": ("actions.enqueue loop", True),
    "rq": ("RQ enqueue_many", False),
    "dramatiq": ("Dramatiq send loop", True),
    "lpush": ("LPUSH pipeline ceiling", False),
}


def _db_url(env: BenchEnv, db: int) -> str:
    return f"{env.url.rsplit('/', 1)[0]}/{db}"


class _Peers:
    """RQ and Dramatiq, each on its own db of the benchmark's redis-server."""

    def __init__(self, env: BenchEnv) -> None:
        import dramatiq
        import rq
        from dramatiq.brokers.redis import RedisBroker

        self.rq_redis = redis.Redis.from_url(_db_url(env, RQ_DB))
        self.rq_queue = rq.Queue("bench", connection=self.rq_redis)
        self.dq_redis = redis.Redis.from_url(_db_url(env, DRAMATIQ_DB))
        self.dq_broker = RedisBroker(url=_db_url(env, DRAMATIQ_DB))
        self.dq_actor = dramatiq.actor(
            broker=self.dq_broker, actor_name="bench_noop", queue_name="bench"
        )(env.bench.plain_noop)

    def flush(self) -> None:
        self.rq_redis.flushdb()
        self.dq_redis.flushdb()

    def close(self) -> None:
        self.dq_broker.close()
        self.rq_redis.close()
        self.dq_redis.close()


def _celery_message(env: BenchEnv) -> bytes:
    """One raw Celery message of ``noop_task(**PARAMS)`` as the broker stores it."""
    env.clean()
    env.bench.noop_task.apply_async(kwargs=PARAMS)
    for key in env.r.scan_iter(match=f"{env.bench.app.conf.task_default_queue}*"):
        if env.r.type(key) == b"list":
            message = env.r.lindex(key, 0)
            if message is not None:
                env.clean()
                return message if isinstance(message, bytes) else str(message).encode()
    raise RuntimeError("could not find the Celery message in the broker")


def _enqueue_sides(env: BenchEnv, peers: _Peers, payload: bytes) -> dict[str, Callable[[int], Any]]:
    bench = env.bench
    actions, noop_action, noop_task = bench.actions, bench.noop_action, bench.noop_task
    rq_queue, dq_actor, r = peers.rq_queue, peers.dq_actor, env.r

    def apply_async_loop(count: int) -> None:
        for _ in range(count):
            noop_task.apply_async(kwargs=PARAMS)

    def enqueue_loop(count: int) -> None:
        for _ in range(count):
            actions.enqueue(noop_action, PARAMS)

    def rq_bulk(count: int) -> None:
        from rq import Queue

        datas = [Queue.prepare_data(bench.plain_noop, kwargs=PARAMS) for _ in range(count)]
        with rq_queue.connection.pipeline() as pipe:
            rq_queue.enqueue_many(datas, pipeline=pipe)
            pipe.execute()

    def dramatiq_loop(count: int) -> None:
        for _ in range(count):
            dq_actor.send(**PARAMS)

    def lpush(count: int) -> None:
        pipe = r.pipeline(transaction=False)
        for start in range(0, count, LPUSH_BATCH):
            for _ in range(min(LPUSH_BATCH, count - start)):
                pipe.lpush("bench:lpush", payload)
            pipe.execute()

    return {
        "apply_async": apply_async_loop,
        "enqueue": enqueue_loop,
        "rq": rq_bulk,
        "dramatiq": dramatiq_loop,
        "lpush": lpush,
    }


def run_enqueue(env: BenchEnv, n: int, loop_n: int, rounds: int) -> list[Row]:
    """Interleaved rounds of every enqueue side; returns rates (items/s) and ratios."""
    bench = env.bench
    peers = _Peers(env)
    payload = _celery_message(env)
    calls = _enqueue_sides(env, peers, payload)
    items = [PARAMS] * n  # built before timing, as a caller would have it

    def enqueue_many(count: int) -> None:
        bench.actions.enqueue_many(bench.noop_action, items if count == n else items[:count])

    def enqueue_many_id(count: int) -> None:  # given ids: checked under WATCH per chunk
        chosen = items if count == n else items[:count]
        bench.actions.enqueue_many(bench.noop_action, chosen, id=f"bench-{uuid.uuid4().hex}")

    calls["enqueue_many"] = enqueue_many
    calls["enqueue_many_id"] = enqueue_many_id
    names = list(SIDES)
    rates: dict[str, list[float]] = {side: [] for side in names}
    try:
        for rnd in range(rounds + 1):
            shift = rnd % len(names)
            for side in names[shift:] + names[:shift]:
                count = loop_n if SIDES[side][1] else n
                if rnd == 0:  # warm-up: first connections, scripts, imports
                    count = max(1, count // 10)
                env.clean()
                peers.flush()
                gc.collect()
                start = time.perf_counter()
                calls[side](count)
                elapsed = time.perf_counter() - start
                if rnd > 0:
                    rates[side].append(count / elapsed)
            if rnd > 0:
                log(
                    f"bulk enqueue round {rnd}/{rounds}: "
                    + ", ".join(f"{side} {rates[side][-1]:,.0f}/s" for side in names)
                )
    finally:
        env.clean()
        peers.flush()
        peers.close()
    rate = {side: median(rates[side]) for side in names}
    details: dict[str, Any] = {
        "n": n,
        "loop_n": loop_n,
        "rounds": rounds,
        "warmup_rounds_discarded": 1,
        "payload_bytes": len(payload),
        "lpush_batch": LPUSH_BATCH,
        "per_round": rates,
        "median_rate": rate,
    }
    k, loop_k = f"{n / 1000:g}k", f"{loop_n / 1000:g}k"

    def row(side: str, target: float | None, ours: str = "enqueue_many") -> Row:
        label, loop = SIDES[side]
        name = f"bulk enqueue {k}" + (" with an id" if ours == "enqueue_many_id" else "")
        return Row(
            benchmark=f"{name}: vs {label}" + (f" ({loop_k})" if loop else ""),
            unit="items/s",
            actions=rate[ours],
            raw=rate[side],
            target=target,
            higher_is_better=True,
            details=details if side == "apply_async" else {"see": "apply_async row"},
            baseline=label,
        )

    return [
        row("apply_async", ENQUEUE_MANY_VS_LOOP_TARGET),
        row("lpush", ENQUEUE_MANY_VS_CEILING_TARGET),
        row("lpush", None, ours="enqueue_many_id"),
        row("enqueue", None),
        row("rq", None),
        row("dramatiq", None),
    ]


# -- memory ----------------------------------------------------------------------------


def _status_kib(field: str) -> int:
    text = Path("/proc/self/status").read_text()
    found = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no {field} in /proc/self/status")
    return int(found.group(1))


def memory_child(n: int) -> dict[str, Any]:
    """In a fresh process: the peak RSS of one ``enqueue_many`` of ``n`` items."""
    import importlib

    from celery_actions.redis import scripts

    bench = importlib.import_module("benchmarks.bench_app")
    scripts.ensure_loaded(bench.actions.runtime.store.client)
    # Warm-up: routes, templates, connections (one-time costs, not per batch).
    bench.actions.enqueue_many(bench.noop_action, [{"n": i} for i in range(100)])
    items = [{"n": i} for i in range(n)]  # the input: built first, not counted
    gc.collect()
    rss_before = _status_kib("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        method = "VmHWM (reset) - VmRSS before"
    except OSError:
        method = "VmHWM (not resettable here: includes start-up) - VmRSS before"
    start = time.perf_counter()
    bench.actions.enqueue_many(bench.noop_action, items)
    elapsed = time.perf_counter() - start
    peak = _status_kib("VmHWM")
    return {
        "n": n,
        "peak_mib": (peak - rss_before) / 1024,
        "rss_before_mib": rss_before / 1024,
        "seconds": elapsed,
        "rate": n / elapsed,
        "method": method,
    }


def _memory_run(env: BenchEnv, n: int) -> dict[str, Any]:
    url = _db_url(env, MEMORY_DB)
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bulk", "memory", str(n)],
        cwd=str(REPO_ROOT),
        env={**os.environ, "REDIS_URL": url},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    redis.Redis.from_url(url).flushdb(asynchronous=True)
    if out.returncode != 0:
        raise RuntimeError(f"memory child failed:\n{out.stdout}\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run_memory(env: BenchEnv, sizes: tuple[int, int]) -> list[Row]:
    """Peak RSS of one call for the small and the large batch."""
    small, large = (_memory_run(env, size) for size in sizes)
    small_k, large_k = (f"{size / 1000:g}k" for size in sizes)
    for got in (small, large):
        log(
            f"bulk memory {got['n']:,} items: peak +{got['peak_mib']:.1f} MiB over "
            f"{got['rss_before_mib']:.0f} MiB; {got['seconds']:.1f} s ({got['rate']:,.0f}/s)"
        )
    return [
        Row(
            benchmark=f"bulk memory: peak, {large_k} vs {small_k} items",
            unit="MiB",
            actions=large["peak_mib"],
            raw=small["peak_mib"],
            target=FLAT_TARGET,
            higher_is_better=False,
            details={"small": small, "large": large, "flat_means": "large <= 1.5 x small"},
            baseline=f"{small_k} items",
        )
    ]


# -- end to end ------------------------------------------------------------------------


def _e2e(env: BenchEnv, side: str, n: int) -> dict[str, float]:
    env.clean()
    bench = env.bench
    key = f"bench:e2e:{side}:{uuid.uuid4().hex[:8]}"
    params = {"key": key, "total": n}
    t0 = time.time()
    if side == "actions":
        bench.actions.enqueue_many(bench.count_action, [params] * n)
    else:
        for _ in range(n):
            bench.count_task.apply_async(kwargs=params)
    enqueued = time.time() - t0
    # The body that counts to n stamps ``:last`` just after its increment: wait for that.
    last = wait_for(
        lambda: env.r.get(f"{key}:last"),
        timeout=120 + n / 20,
        interval=0.01,
        what=f"{n} {side} tasks to complete",
    )
    wait_for(
        lambda: env.r.zcard("actions:leases") == 0,
        timeout=10,
        interval=0.005,
        what="the last leases to be released",
    )
    return {"rate": n / (float(last) - t0), "enqueue_s": enqueued}


def run_e2e(env: BenchEnv, n: int, rounds: int) -> list[Row]:
    """enqueue_many vs an apply_async loop, through the same two workers."""
    got: dict[str, list[dict[str, float]]] = {"actions": [], "raw": []}
    with env.workers(E2E_WORKERS):
        for side in ("actions", "raw"):
            _e2e(env, side, max(200, n // 20))
        log("bulk end-to-end warm-up done")
        for rnd in range(rounds):
            order = ("actions", "raw") if rnd % 2 == 0 else ("raw", "actions")
            for side in order:
                got[side].append(_e2e(env, side, n))
                log(
                    f"bulk end to end round {rnd + 1}/{rounds} {side}: "
                    f"{got[side][-1]['rate']:,.0f} tasks/s (enqueue took "
                    f"{got[side][-1]['enqueue_s']:.2f} s)"
                )
    env.clean()
    k = f"{n / 1000:g}k"
    return [
        Row(
            benchmark=f"bulk end to end {k}: vs apply_async loop",
            unit="tasks/s",
            actions=median([g["rate"] for g in got["actions"]]),
            raw=median([g["rate"] for g in got["raw"]]),
            target=None,
            higher_is_better=True,
            details={
                "n": n,
                "rounds": rounds,
                "workers": f"{E2E_WORKERS} workers {env.worker_settings.describe()}",
                "window": "enqueue call -> last body increment",
                "actions_per_round": got["actions"],
                "raw_per_round": got["raw"],
            },
            baseline="apply_async loop",
        )
    ]


def run(
    env: BenchEnv,
    *,
    n: int,
    loop_n: int,
    rounds: int,
    memory_sizes: tuple[int, int],
    e2e_n: int,
    e2e_rounds: int,
) -> list[Row]:
    """All three bulk benchmarks."""
    rows = run_enqueue(env, n, loop_n, rounds)
    rows.extend(run_memory(env, memory_sizes))
    rows.extend(run_e2e(env, e2e_n, e2e_rounds))
    return rows


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "memory":
        raise SystemExit("usage: python -m benchmarks.bulk memory N  (run by python -m benchmarks)")
    print(json.dumps(memory_child(int(sys.argv[2]))))
