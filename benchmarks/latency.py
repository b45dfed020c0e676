"""Benchmark 3: enqueue-to-start latency on an idle worker.

One worker runs for the whole benchmark. Each sample takes ``time.time()`` just before
the enqueue call; the task body pushes its own ``time.time()`` to a Redis list that the
benchmark blocks on (BLPOP: no polling load while the worker works). Latency is body
start minus enqueue call time. Before the next sample the benchmark waits until the
task's result is stored and then a short gap, so the worker is idle again. Samples
alternate A B, B A, ...; the first ``warmup`` pairs are discarded.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from .common import BenchEnv, Row, latency_rows, log, median

TARGET = 1.5
GAP_S = 0.01
RESULT_WAIT_S = 2.0


def sample_ms(env: BenchEnv, send: Callable[[str], str], key: str) -> tuple[float, bool]:
    """One enqueue-to-start sample in ms, and whether the result was seen within 2 s.

    ``send(key)`` enqueues a task whose body pushes its start time to ``key`` and returns
    the task id. Returns once the worker is idle again (result stored, then a short gap).
    """
    r = env.r
    t0 = time.time()
    task_id = send(key)
    reply = r.blpop([key], timeout=30)
    if reply is None:
        raise TimeoutError(f"task {task_id} did not start within 30 s")
    started = float(reply[1])
    # Idle again once the result is stored (bounded: a missing result only costs time).
    deadline = time.monotonic() + RESULT_WAIT_S
    seen = True
    while not r.exists(f"celery-task-meta-{task_id}"):
        if time.monotonic() > deadline:
            seen = False
            break
        time.sleep(0.001)
    time.sleep(GAP_S)
    return (started - t0) * 1000, seen


def send_raw(env: BenchEnv) -> Callable[[str], str]:
    """``send`` for :func:`sample_ms`: raw Celery ``apply_async`` of ``stamp_task``."""
    stamp_task = env.bench.stamp_task
    return lambda key: str(stamp_task.apply_async(kwargs={"key": key}).id)


def run(env: BenchEnv, samples: int, warmup: int) -> list[Row]:
    """Returns the median and p99 rows (milliseconds)."""
    bench = env.bench
    run_id = uuid.uuid4().hex[:8]

    def send_action(key: str) -> str:
        return str(bench.actions.enqueue(bench.stamp_action, {"key": key}).id)

    sides: dict[str, Callable[[str], str]] = {"actions": send_action, "raw": send_raw(env)}

    def sample(side: str, i: int) -> float:
        ms, seen = sample_ms(env, sides[side], f"bench:lat:{run_id}:{side}:{i}")
        if not seen:
            missing_results[side] += 1
        return ms

    latencies: dict[str, list[float]] = {"actions": [], "raw": []}
    missing_results = {"actions": 0, "raw": 0}
    env.clean()
    with env.worker():
        for i in range(warmup + samples):
            order = ("actions", "raw") if i % 2 == 0 else ("raw", "actions")
            for side in order:
                ms = sample(side, i)
                if i >= warmup:
                    latencies[side].append(ms)
            if i >= warmup and (i - warmup + 1) % 50 == 0:
                done = i - warmup + 1
                log(
                    f"latency {done}/{samples}: median so far actions "
                    f"{median(latencies['actions']):.2f} ms, raw {median(latencies['raw']):.2f} ms"
                )
    env.clean()
    details = {
        "samples": samples,
        "warmup_discarded": warmup,
        "worker": env.worker_settings.describe(),
        "results_not_seen_within_2s": missing_results,
        "actions_ms": latencies["actions"],
        "raw_ms": latencies["raw"],
    }
    return latency_rows(
        "latency enqueue->start", latencies["actions"], latencies["raw"], TARGET, details
    )
