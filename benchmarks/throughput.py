"""Benchmark 2: end-to-end throughput of trivial tasks through one worker.

For each side: drop what the previous round left, enqueue all ``n`` tasks while no
worker runs (celery-actions with ``enqueue_many``, raw Celery with an ``apply_async``
loop; not timed), then start a fresh worker with the same settings and time from the
first task's start to the last task's increment, both stamped by the task bodies into
Redis. Completion is detected by polling one counter every 10 ms, not by waiting on
results. The bookkeeping that follows the last body (a few ms: finish.lua, result store,
ack) falls outside the window on both sides. Rounds interleave A B, B A, ...; a smaller
warm-up round of each side comes first and is discarded.
"""

from __future__ import annotations

import math
import time
import uuid
from contextlib import nullcontext
from typing import Any

from celery_actions.testing.processes import wait_for

from .common import BenchEnv, Row, group_cpu_seconds, log, median

TARGET = 0.7


def _enqueue_all(env: BenchEnv, side: str, key: str, n: int) -> None:
    bench = env.bench
    params = {"key": key, "total": n}
    if side == "actions":
        bench.actions.enqueue_many(bench.count_action, [params] * n)
    else:
        # kombu >= 5.7 pipelines the LPUSHes of a batch: setup only, the messages are the same.
        with bench.app.producer_or_acquire() as producer:
            batch = getattr(producer, "batch", None)
            with batch(1000) if batch is not None else nullcontext():
                for _ in range(n):
                    bench.count_task.apply_async(kwargs=params, producer=producer)


def _redis_cpu(env: BenchEnv) -> float:
    info = env.r.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _drain(env: BenchEnv, side: str, n: int) -> dict[str, float]:
    """Tasks per second for one side and one round, and CPU cost per task."""
    env.clean()
    key = f"bench:tp:{side}:{uuid.uuid4().hex[:8]}"
    _enqueue_all(env, side, key, n)
    r = env.r
    with env.worker() as worker:
        assert worker.proc is not None
        pgid = worker.proc.pid
        # CPU cost per task, measured over what runs after the worker is up (not its start).
        done0, cpu0, redis0 = int(r.get(key) or 0), group_cpu_seconds(pgid), _redis_cpu(env)
        wait_for(
            lambda: int(r.get(key) or 0) >= n,
            timeout=60 + n / 20,
            interval=0.01,
            what=f"{n} {side} tasks to complete",
        )
        cpu1, redis1 = group_cpu_seconds(pgid), _redis_cpu(env)
        first, last = r.get(f"{key}:first"), r.get(f"{key}:last")
    assert first is not None and last is not None
    measured = max(1, n - done0)
    worker_s = math.nan if cpu0 is None or cpu1 is None else cpu1 - cpu0
    return {
        "rate": n / (float(last) - float(first)),
        "worker_cpu_ms": worker_s * 1000 / measured,
        "redis_cpu_ms": (redis1 - redis0) * 1000 / measured,
    }


def run(env: BenchEnv, n: int, rounds: int, warmup_n: int) -> list[Row]:
    """Interleaved rounds; returns tasks/s (median of rounds) and CPU per task (info)."""
    rates: dict[str, list[float]] = {"actions": [], "raw": []}
    cpu: dict[str, list[dict[str, float]]] = {"actions": [], "raw": []}
    if warmup_n > 0:
        for side in ("actions", "raw"):
            _drain(env, side, warmup_n)
        log(f"throughput warm-up ({warmup_n} each) done")
    for rnd in range(rounds):
        order = ("actions", "raw") if rnd % 2 == 0 else ("raw", "actions")
        for side in order:
            started = time.monotonic()
            got = _drain(env, side, n)
            rates[side].append(got["rate"])
            cpu[side].append({k: v for k, v in got.items() if k != "rate"})
            log(
                f"throughput round {rnd + 1}/{rounds} {side}: {got['rate']:.0f} tasks/s; "
                f"CPU per task: worker {got['worker_cpu_ms']:.2f} ms, "
                f"redis {got['redis_cpu_ms']:.2f} ms "
                f"({time.monotonic() - started:.1f} s with enqueue and worker start)"
            )
    env.clean()
    cpu_ms = _cpu_summary(cpu)
    rate_row = Row(
        benchmark=f"throughput: {n} tasks, 1 worker",
        unit="tasks/s",
        actions=median(rates["actions"]),
        raw=median(rates["raw"]),
        target=TARGET,
        higher_is_better=True,
        details={
            "n": n,
            "rounds": rounds,
            "warmup_n_discarded": warmup_n,
            "worker": env.worker_settings.describe(),
            "window": "first task body start -> last task body increment",
            "enqueue": "all enqueued before the worker starts",
            "actions_per_round": rates["actions"],
            "raw_per_round": rates["raw"],
            "cpu_ms_per_task": cpu_ms,
        },
    )
    # CPU per task is steadier than wall time on a shared machine (it barely moves when
    # another process takes a core), so it is shown too; its inverse ratio is comparable.
    cpu_row = Row(
        benchmark="throughput: CPU ms/task, worker+redis (info)",
        unit="ms",
        actions=cpu_ms["actions"]["worker"] + cpu_ms["actions"]["redis"],
        raw=cpu_ms["raw"]["worker"] + cpu_ms["raw"]["redis"],
        target=None,
        higher_is_better=False,
        details={"cpu_ms_per_task": cpu_ms},
    )
    return [rate_row, cpu_row]


def _cpu_summary(cpu: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    """Median CPU ms per task of each side (worker process tree, redis-server)."""
    return {
        side: {
            "worker": median([c["worker_cpu_ms"] for c in rounds]),
            "redis": median([c["redis_cpu_ms"] for c in rounds]),
        }
        for side, rounds in cpu.items()
        if rounds
    }
