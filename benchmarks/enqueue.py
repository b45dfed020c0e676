"""Benchmark 1: the cost of one enqueue, ``actions.enqueue`` vs raw ``apply_async``.

No worker runs. Both sides publish to the same Redis broker with the same app
configuration; the queue is purged (and job records dropped) between batches, so every
batch starts from the same state. Batches are interleaved A B, B A, A B, ... and the
first round is a discarded warm-up; the figure is the median over rounds of each batch's
mean time per call.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

from .common import BenchEnv, Row, log, median

TARGET = 1.5


def _batch(env: BenchEnv, call: Callable[[int], object], calls: int) -> float:
    """Seconds per call over one batch of ``calls`` enqueues (setup not timed)."""
    env.clean()
    gc.collect()
    start = time.perf_counter()
    for i in range(calls):
        call(i)
    elapsed = time.perf_counter() - start
    return elapsed / calls


def run(env: BenchEnv, calls: int, rounds: int) -> Row:
    """Interleaved batches; returns the per-call cost in microseconds for both sides."""
    bench = env.bench
    actions, noop_action, noop_task = bench.actions, bench.noop_action, bench.noop_task

    def enqueue_action(i: int) -> object:
        return actions.enqueue(noop_action, {"n": i})

    def enqueue_raw(i: int) -> object:
        return noop_task.apply_async(kwargs={"n": i})

    sides = {"actions": enqueue_action, "raw": enqueue_raw}
    per_call: dict[str, list[float]] = {"actions": [], "raw": []}
    for rnd in range(rounds + 1):
        order = ("actions", "raw") if rnd % 2 == 0 else ("raw", "actions")
        for side in order:
            seconds = _batch(env, sides[side], calls)
            if rnd > 0:  # round 0 is the warm-up
                per_call[side].append(seconds * 1e6)
        if rnd > 0:
            log(
                f"enqueue round {rnd}/{rounds}: actions {per_call['actions'][-1]:.0f} us, "
                f"raw {per_call['raw'][-1]:.0f} us per call"
            )
    env.clean()
    return Row(
        benchmark="enqueue: one call",
        unit="us/call",
        actions=median(per_call["actions"]),
        raw=median(per_call["raw"]),
        target=TARGET,
        higher_is_better=False,
        details={
            "calls_per_batch": calls,
            "rounds": rounds,
            "warmup_rounds_discarded": 1,
            "actions_us_per_round": per_call["actions"],
            "raw_us_per_round": per_call["raw"],
        },
    )
