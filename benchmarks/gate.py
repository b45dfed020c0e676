"""Benchmarks 4-6: the queue gate (a named queue's global ``maxConcurrency``).

All three run on the same two worker processes (``--gate-pool``/``--gate-concurrency``,
default ``-P threads -c 8`` each: more threads than any limit here, so the gate, not the
pool, is what binds). The limit is enforced in Redis across both workers.

- Utilisation: ``n`` actions that each sleep ``t`` ms go through one queue of limit ``L``
  (enqueued with one ``enqueue_many``). The bodies stamp their start and end in Redis; the
  span from the first start to the last end is compared with the ideal ``n * t / L``
  (reported as achieved rate / ideal rate ``L / t`` = ideal span / actual span). The bodies
  also count how many of them overlap (INCR, and a Lua max, then DECR): the maximum must
  equal ``L`` (never more: the limit holds; not less: every slot was used).
- Overhead: trivial actions (the throughput benchmark's counting body) through a queue
  whose limit (100) does not bind, against the same actions with no queue; rounds
  interleave A B, B A. Timed from the ``enqueue_many`` call to the last body's increment,
  so it includes the gate's admissions (each completion admits the next waiting action,
  whose message the worker publishes).
- Hand-off: chains of actions through a limit-1 queue. The gap between one body's end
  and the next body's start is the release-to-start latency (finish bookkeeping, the
  admission, the publish, the broker, the claim). For scale, raw Celery enqueue-to-start
  latency on the same idle workers is sampled between the chains (info row).
"""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

from celery_actions.testing.processes import wait_for

from . import latency
from .common import BenchEnv, Row, WorkerSettings, latency_rows, log, median

UTILISATION_TARGET = 0.9
OVERHEAD_TARGET = 0.8
WORKERS = 2
WIDE_LIMIT = 100  # the overhead benchmark's limit: high enough never to bind here


def _key(kind: str) -> str:
    return f"bench:gate:{kind}:{uuid.uuid4().hex[:8]}"


def _quiet(env: BenchEnv, timeout: float = 10.0) -> None:
    """Wait until no action holds a lease (the last finish bookkeeping is done)."""
    wait_for(
        lambda: env.r.zcard("actions:leases") == 0,
        timeout=timeout,
        interval=0.005,
        what="the last leases to be released",
    )


def _spans(env: BenchEnv, key: str) -> list[tuple[float, float]]:
    """The (start, end) of every run, ordered by start."""
    spans = []
    for raw in env.r.lrange(f"{key}:spans", 0, -1):
        start, end = (raw.decode() if isinstance(raw, bytes) else str(raw)).split()
        spans.append((float(start), float(end)))
    return sorted(spans)


def _gated_batch(env: BenchEnv, kind: str, n: int, limit: int, sleep_ms: float) -> tuple[str, int]:
    """Enqueue ``n`` gate actions through a fresh queue of ``limit``; wait for all to end.

    Returns the stamp key and the maximum overlap the bodies observed.
    """
    bench = env.bench
    key = _key(kind)
    queue = {"name": f"bench-{kind}-{uuid.uuid4().hex[:8]}", "maxConcurrency": limit}
    bench.actions.enqueue_many(
        bench.gate_action, [{"key": key, "sleep_ms": sleep_ms}] * n, {"queue": queue}
    )
    ideal_s = n * sleep_ms / 1000 / limit
    wait_for(
        lambda: int(env.r.get(f"{key}:done") or 0) >= n,
        timeout=30 + 5 * ideal_s + n * 0.05,
        interval=0.01,
        what=f"{n} gated actions (limit {limit}) to finish",
    )
    _quiet(env)
    return key, int(env.r.get(f"{key}:max") or 0)


def _utilisation(env: BenchEnv, n: int, limit: int, sleep_ms: float) -> dict[str, float]:
    """One utilisation round."""
    env.clean()
    key, max_seen = _gated_batch(env, "util", n, limit, sleep_ms)
    spans = _spans(env, key)
    first, last = spans[0][0], max(end for _, end in spans)
    actual_s = last - first
    ideal_s = n * sleep_ms / 1000 / limit
    busy_s = sum(end - start for start, end in spans)
    return {
        "actual_s": actual_s,
        "ideal_s": ideal_s,
        "rate": n / actual_s,
        "max_concurrency": max_seen,
        "mean_body_ms": busy_s / n * 1000,
        "mean_concurrency": busy_s / actual_s,
    }


def _overhead(env: BenchEnv, side: str, n: int) -> float:
    """Trivial actions per second, ``enqueue_many`` call to the last body's increment."""
    env.clean()
    bench = env.bench
    key = _key(f"ov-{side}")
    options = None
    if side == "queue":
        options = {"queue": {"name": f"bench-wide-{uuid.uuid4().hex[:8]}", "maxConcurrency": 100}}
    t0 = time.time()
    bench.actions.enqueue_many(bench.count_action, [{"key": key, "total": n}] * n, options)
    # The body that counts to n stamps ``:last`` just after its increment: wait for that.
    last = wait_for(
        lambda: env.r.get(f"{key}:last"),
        timeout=60 + n / 20,
        interval=0.01,
        what=f"{n} {side} actions to complete",
    )
    _quiet(env)
    return n / (float(last) - t0)


def _handoff_chain(env: BenchEnv, length: int) -> tuple[list[float], int]:
    """Gaps (ms) from one body's end to the next one's start in a limit-1 queue."""
    env.clean()
    key, max_seen = _gated_batch(env, "handoff", length, 1, 0.0)
    spans = _spans(env, key)
    gaps = [(spans[i + 1][0] - spans[i][1]) * 1000 for i in range(len(spans) - 1)]
    return gaps, max_seen


def _raw_latency(env: BenchEnv, count: int) -> list[float]:
    """Raw Celery enqueue-to-start samples (ms) on the same idle workers."""
    send = latency.send_raw(env)
    out = []
    for _ in range(count):
        ms, _seen = latency.sample_ms(env, send, _key("lat"))
        out.append(ms)
    return out


def run(
    env: BenchEnv,
    settings: WorkerSettings,
    *,
    n: int,
    limit: int,
    sleep_ms: float,
    rounds: int,
    overhead_n: int,
    handoff_samples: int,
) -> list[Row]:
    """All three gate benchmarks on one pair of workers."""
    chains = 4
    per_chain = max(1, round(handoff_samples / chains))
    util: list[dict[str, float]] = []
    rates: dict[str, list[float]] = {"queue": [], "none": []}
    gaps: list[float] = []
    raw_ms: list[float] = []
    handoff_max: list[int] = []
    with env.workers(WORKERS, settings):
        # Warm-up (discarded): every path once, so no first-use cost lands in a round.
        _utilisation(env, 4 * limit, limit, sleep_ms)
        for side in ("queue", "none"):
            _overhead(env, side, max(100, overhead_n // 10))
        _handoff_chain(env, 6)
        _raw_latency(env, 5)
        log("gate warm-up done")
        for rnd in range(rounds):
            got = _utilisation(env, n, limit, sleep_ms)
            util.append(got)
            log(
                f"gate utilisation round {rnd + 1}/{rounds}: {got['actual_s']:.3f} s "
                f"(ideal {got['ideal_s']:.3f} s) = {got['ideal_s'] / got['actual_s']:.3f}; "
                f"max concurrency {got['max_concurrency']:.0f} of {limit}; "
                f"mean body {got['mean_body_ms']:.1f} ms"
            )
        for rnd in range(rounds):
            order = ("queue", "none") if rnd % 2 == 0 else ("none", "queue")
            for side in order:
                rates[side].append(_overhead(env, side, overhead_n))
            log(
                f"gate overhead round {rnd + 1}/{rounds}: queue {rates['queue'][-1]:.0f}/s, "
                f"no queue {rates['none'][-1]:.0f}/s"
            )
        for chain in range(chains):
            got_gaps, max_seen = _handoff_chain(env, per_chain + 1)
            gaps.extend(got_gaps)
            handoff_max.append(max_seen)
            raw_ms.extend(_raw_latency(env, per_chain))
            if max_seen != 1:
                log(f"gate hand-off chain {chain + 1}: {max_seen} ran at once in a limit-1 queue!")
            log(
                f"gate hand-off chain {chain + 1}/{chains}: median {median(got_gaps):.2f} ms "
                f"(raw enqueue->start median so far {median(raw_ms):.2f} ms)"
            )
    env.clean()
    return _rows(
        settings, n, limit, sleep_ms, rounds, overhead_n, util, rates, gaps, raw_ms, handoff_max
    )


def _rows(
    settings: WorkerSettings,
    n: int,
    limit: int,
    sleep_ms: float,
    rounds: int,
    overhead_n: int,
    util: list[dict[str, float]],
    rates: dict[str, list[float]],
    gaps: list[float],
    raw_ms: list[float],
    handoff_max: list[int],
) -> list[Row]:
    workers = f"{WORKERS} workers {settings.describe()}"
    ideal_rate = limit / (sleep_ms / 1000)
    max_seen = max(int(u["max_concurrency"]) for u in util)
    util_details: dict[str, Any] = {
        "n": n,
        "limit": limit,
        "sleep_ms": sleep_ms,
        "rounds": rounds,
        "warmup_rounds_discarded": 1,
        "workers": workers,
        "window": "first body start -> last body end (stamped by the bodies)",
        "ideal_s": n * sleep_ms / 1000 / limit,
        "actual_s_per_round": [u["actual_s"] for u in util],
        "ideal_over_actual_per_round": [u["ideal_s"] / u["actual_s"] for u in util],
        "mean_body_ms_per_round": [u["mean_body_ms"] for u in util],
        "mean_concurrency_per_round": [u["mean_concurrency"] for u in util],
        "max_concurrency_per_round": [int(u["max_concurrency"]) for u in util],
    }
    return [
        Row(
            benchmark=f"gate utilisation: {n} x {sleep_ms:g} ms, limit {limit}",
            unit="tasks/s",
            actions=median([u["rate"] for u in util]),
            raw=ideal_rate,
            target=UTILISATION_TARGET,
            higher_is_better=True,
            details=util_details,
            baseline="ideal L/t",
        ),
        Row(
            benchmark=f"gate: max concurrency seen, limit {limit}",
            unit="slots",
            actions=max_seen,
            raw=limit,
            target=1.0,
            higher_is_better=True,
            details={
                "per_round": util_details["max_concurrency_per_round"],
                "handoff_limit_1_max_per_chain": handoff_max,
            },
            baseline="the limit",
            exact=True,
        ),
        Row(
            benchmark=f"gate overhead: limit {WIDE_LIMIT} vs no queue",
            unit="tasks/s",
            actions=median(rates["queue"]),
            raw=median(rates["none"]),
            target=OVERHEAD_TARGET,
            higher_is_better=True,
            details={
                "n": overhead_n,
                "rounds": rounds,
                "workers": workers,
                "max_concurrency": WIDE_LIMIT,
                "window": "enqueue_many call -> last body increment",
                "queue_per_round": rates["queue"],
                "no_queue_per_round": rates["none"],
            },
            baseline="no queue",
        ),
        *latency_rows(
            "gate hand-off release->start",
            gaps,
            raw_ms,
            None,
            {
                "samples": len(gaps),
                "raw_samples": len(raw_ms),
                "workers": workers,
                "window": "holder body end -> next body start (limit-1 queue); raw: "
                "apply_async call -> body start on the same idle workers",
                "max_concurrency_per_chain": handoff_max,
                "mean_ms": statistics.fmean(gaps),
                "handoff_ms": gaps,
                "raw_enqueue_to_start_ms": raw_ms,
            },
            baseline="celery enq->start",
        ),
    ]
