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

import time
import uuid

from .common import BenchEnv, Row, log, median, wait_until

TARGET = 0.7


def _enqueue_all(env: BenchEnv, side: str, key: str, n: int) -> None:
    bench = env.bench
    params = {"key": key, "total": n}
    if side == "actions":
        bench.actions.enqueue_many(bench.count_action, [params] * n)
    else:
        with bench.app.producer_or_acquire() as producer:
            for _ in range(n):
                bench.count_task.apply_async(kwargs=params, producer=producer)


def _drain(env: BenchEnv, side: str, n: int) -> float:
    """Tasks per second for one side and one round."""
    env.clean()
    key = f"bench:tp:{side}:{uuid.uuid4().hex[:8]}"
    _enqueue_all(env, side, key, n)
    r = env.r
    with env.worker():
        wait_until(
            lambda: int(r.get(key) or 0) >= n,
            timeout=60 + n / 20,
            interval=0.01,
            what=f"{n} {side} tasks to complete",
        )
        first, last = r.get(f"{key}:first"), r.get(f"{key}:last")
    assert first is not None and last is not None
    return n / (float(last) - float(first))


def run(env: BenchEnv, n: int, rounds: int, warmup_n: int) -> Row:
    """Interleaved rounds; returns tasks/s for both sides (median of rounds)."""
    rates: dict[str, list[float]] = {"actions": [], "raw": []}
    if warmup_n > 0:
        for side in ("actions", "raw"):
            _drain(env, side, warmup_n)
        log(f"throughput warm-up ({warmup_n} each) done")
    for rnd in range(rounds):
        order = ("actions", "raw") if rnd % 2 == 0 else ("raw", "actions")
        for side in order:
            started = time.monotonic()
            rates[side].append(_drain(env, side, n))
            log(
                f"throughput round {rnd + 1}/{rounds} {side}: {rates[side][-1]:.0f} tasks/s "
                f"({time.monotonic() - started:.1f} s with enqueue and worker start)"
            )
    env.clean()
    return Row(
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
        },
    )
