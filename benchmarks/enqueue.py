"""Benchmark 1: the cost of one enqueue, ``actions.enqueue`` vs raw ``apply_async``.

No worker runs. Both sides publish to the same Redis broker with the same app
configuration; the queue is purged (and job records dropped) between batches, so every
batch starts from the same state. Batches are interleaved (the order rotates each round)
and the first round is a discarded warm-up; the figure is the median over rounds of each
batch's mean time per call.

``Actions(app)`` turns on ``task_send_sent_event`` for the whole app (Flower lists queued
actions). That adds an event publish to every ``apply_async`` of the app, plain tasks
included, so a third interleaved side measures raw ``apply_async`` with the setting off
(Celery's own default), reported as an informational row.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

from .common import BenchEnv, Row, log, median

TARGET = 1.5
SIDES = ("actions", "raw", "raw_no_sent_event")


def _batch(env: BenchEnv, call: Callable[[int], object], calls: int, sent_event: bool) -> float:
    """Seconds per call over one batch of ``calls`` enqueues (setup not timed)."""
    conf = env.bench.app.conf
    env.clean()
    gc.collect()
    saved = conf.task_send_sent_event
    conf.task_send_sent_event = sent_event
    try:
        start = time.perf_counter()
        for i in range(calls):
            call(i)
        elapsed = time.perf_counter() - start
    finally:
        conf.task_send_sent_event = saved
    return elapsed / calls


def run(env: BenchEnv, calls: int, rounds: int) -> list[Row]:
    """Interleaved batches; returns per-call costs in microseconds."""
    bench = env.bench
    actions, noop_action, noop_task = bench.actions, bench.noop_action, bench.noop_task
    sent_event = bool(bench.app.conf.task_send_sent_event)

    def enqueue_action(i: int) -> object:
        return actions.enqueue(noop_action, {"n": i})

    def enqueue_raw(i: int) -> object:
        return noop_task.apply_async(kwargs={"n": i})

    calls_of = {"actions": enqueue_action, "raw": enqueue_raw, "raw_no_sent_event": enqueue_raw}
    per_call: dict[str, list[float]] = {side: [] for side in SIDES}
    for rnd in range(rounds + 1):
        shift = rnd % len(SIDES)
        for side in SIDES[shift:] + SIDES[:shift]:
            seconds = _batch(env, calls_of[side], calls, sent_event and side != "raw_no_sent_event")
            if rnd > 0:  # round 0 is the warm-up
                per_call[side].append(seconds * 1e6)
        if rnd > 0:
            log(
                f"enqueue round {rnd}/{rounds}: "
                + ", ".join(f"{side} {per_call[side][-1]:.0f} us" for side in SIDES)
                + " per call"
            )
    env.clean()
    details = {
        "calls_per_batch": calls,
        "rounds": rounds,
        "warmup_rounds_discarded": 1,
        "task_send_sent_event": sent_event,
        **{f"{side}_us_per_round": per_call[side] for side in SIDES},
    }
    actions_us = median(per_call["actions"])
    return [
        Row(
            benchmark="enqueue: one call",
            unit="us/call",
            actions=actions_us,
            raw=median(per_call["raw"]),
            target=TARGET,
            higher_is_better=False,
            details=details,
        ),
        Row(
            benchmark="enqueue vs raw w/o sent event (info)",
            unit="us/call",
            actions=actions_us,
            raw=median(per_call["raw_no_sent_event"]),
            target=None,
            higher_is_better=False,
            details={
                "note": "raw apply_async with task_send_sent_event=False (Celery's default; "
                "Actions(app) turns it on app-wide)",
            },
        ),
    ]
