"""``python -m benchmarks``: celery-actions vs raw Celery and peers, on one private Redis.

Starts an embedded redis-server on a free port and worker subprocesses of
``benchmarks.bench_app`` (the same app, Celery configuration and worker settings for
both sides), runs the chosen benchmarks with A/B interleaving, prints a table of ratios
and writes ``benchmarks/results/latest.json``.

Groups: ``enqueue``, ``throughput``, ``latency`` (against raw Celery), ``gate`` (the
named-queue concurrency limit: utilisation, overhead, hand-off latency) and ``bulk``
(``enqueue_many`` against loops, RQ, Dramatiq and a raw LPUSH ceiling; its memory; end to
end through two workers), ``django`` (enqueue inside ``atomic()`` through the
transactional outbox against after the commit; a model action end to end against a global
action doing the same work), ``dashboard`` (a million actions written through the Lua
scripts; each dashboard count and page p95 against 50 ms; what a finished action costs in
Redis against 600 B). ``dashboard`` is not in the default run (it takes minutes and about
a gigabyte of Redis): ``python -m benchmarks --only dashboard``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .common import Row, WorkerSettings, bench_env, log, source_state

BENCHMARKS = ("enqueue", "throughput", "latency", "gate", "bulk", "django", "dashboard")
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="celery-actions vs raw Celery and peers on one private Redis: enqueue "
        "cost, throughput, enqueue-to-start latency, the queue gate, bulk enqueue (ratios "
        "celery-actions/baseline).",
    )
    p.add_argument(
        "--only",
        default=",".join(b for b in BENCHMARKS if b != "dashboard"),
        help="comma-separated benchmarks to run (default: %(default)s)",
    )
    p.add_argument("--n", type=int, default=5000, help="throughput: tasks per side per round")
    p.add_argument("--throughput-rounds", type=int, default=3, help="throughput: rounds per side")
    p.add_argument(
        "--warmup-n", type=int, default=300, help="throughput: warm-up tasks per side (discarded)"
    )
    p.add_argument("--calls", type=int, default=200, help="enqueue: calls per batch")
    p.add_argument("--rounds", type=int, default=16, help="enqueue: rounds (plus one warm-up)")
    p.add_argument("--samples", type=int, default=200, help="latency: samples per side")
    p.add_argument(
        "--latency-warmup", type=int, default=10, help="latency: warm-up samples (discarded)"
    )
    p.add_argument("--pool", default="prefork", help="worker pool (default: %(default)s)")
    p.add_argument("--concurrency", type=int, default=2, help="worker concurrency (default: 2)")
    p.add_argument("--loglevel", default="WARNING", help="worker log level (default: WARNING)")
    g = p.add_argument_group("gate (named queue with maxConcurrency)")
    g.add_argument("--gate-n", type=int, default=200, help="utilisation: actions per round")
    g.add_argument("--gate-limit", type=int, default=4, help="utilisation: maxConcurrency")
    g.add_argument("--gate-sleep-ms", type=float, default=50.0, help="utilisation: body sleep")
    g.add_argument("--gate-rounds", type=int, default=3, help="utilisation/overhead: rounds")
    g.add_argument(
        "--gate-overhead-n", type=int, default=1000, help="overhead: actions per side per round"
    )
    g.add_argument("--handoff-samples", type=int, default=100, help="hand-off: samples")
    g.add_argument("--gate-pool", default="threads", help="gate workers' pool (default: threads)")
    g.add_argument(
        "--gate-concurrency", type=int, default=8, help="gate workers' concurrency (default: 8)"
    )
    b = p.add_argument_group("bulk (enqueue_many)")
    b.add_argument("--bulk-n", type=int, default=20000, help="bulk enqueue: items per call")
    b.add_argument(
        "--bulk-loop-n",
        type=int,
        default=3000,
        help="bulk enqueue: items for the one-call-per-item loops (rates are per second)",
    )
    b.add_argument("--bulk-rounds", type=int, default=3, help="bulk enqueue: rounds (+1 warm-up)")
    b.add_argument(
        "--bulk-memory-sizes",
        default="20000,200000",
        help="bulk memory: two batch sizes, small,large (default: %(default)s)",
    )
    b.add_argument("--e2e-n", type=int, default=20000, help="bulk end to end: tasks per side")
    b.add_argument(
        "--e2e-rounds",
        type=int,
        default=1,
        help="bulk end to end: rounds per side, alternating the order (default: 1; each round "
        "of 20k takes about 2 minutes here)",
    )
    d = p.add_argument_group("django")
    d.add_argument("--dj-calls", type=int, default=200, help="enqueue in atomic: calls per batch")
    d.add_argument("--dj-rounds", type=int, default=10, help="enqueue in atomic: rounds (+1)")
    d.add_argument("--dj-e2e-n", type=int, default=1000, help="model action e2e: actions per side")
    d.add_argument("--dj-e2e-rounds", type=int, default=3, help="model action e2e: rounds (+1)")
    w = p.add_argument_group("dashboard")
    w.add_argument("--dash-n", type=int, default=1_000_000, help="actions written (1,000,000)")
    w.add_argument("--dash-samples", type=int, default=200, help="timings per query")
    p.add_argument(
        "--raw-acks-late",
        action="store_true",
        help="give the raw tasks acks_late=True, as actions have (default: Celery's default)",
    )
    p.add_argument(
        "--json", type=Path, default=DEFAULT_JSON, help="where to write the results as JSON"
    )
    args = p.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown or not chosen:
        p.error(f"--only takes a comma-separated subset of {', '.join(BENCHMARKS)}")
    args.chosen = [name for name in BENCHMARKS if name in chosen]
    try:
        small, large = (int(x) for x in args.bulk_memory_sizes.split(","))
    except ValueError:
        p.error("--bulk-memory-sizes takes two integers, small,large")
    args.memory_sizes = (small, large)
    return args


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed" if name != "celery-actions" else "source tree"


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _fmt(value: float, unit: str) -> str:
    if unit == "us/call":
        return f"{value:,.0f} us"
    if unit in ("tasks/s", "items/s"):
        return f"{value:,.0f} /s"
    if unit == "MiB":
        return f"{value:,.1f} MiB"
    if unit == "slots":
        return f"{value:g}"
    if unit == "B":
        return f"{value:,.0f} B"
    return f"{value:.2f} ms"


def render(rows: list[Row], header: list[str], command: str, console: Console) -> None:
    """Print the results table, then the command that produced it."""
    table = Table(
        title="celery-actions vs baseline (ratio = celery-actions / baseline; the baseline is "
        "raw Celery unless the row says 'vs ...')"
    )
    for column, justify in (
        ("benchmark", "left"),
        ("celery-actions", "right"),
        ("baseline", "right"),
        ("ratio", "right"),
        ("target", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        verdict = {True: "ok", False: "MISSED", None: ""}[row.ok]
        table.add_row(
            row.benchmark,
            _fmt(row.actions, row.unit),
            _fmt(row.raw, row.unit),
            f"{row.ratio:.2f}",
            f"{row.target_text}  {verdict}",
        )
    console.print(table)
    for line in header:
        console.print(line, highlight=False, soft_wrap=True)
    console.print(f"command: {command}", highlight=False, soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks; returns the exit status."""
    args = parse_args(argv)
    command = shlex.join(["python", "-m", "benchmarks", *(sys.argv[1:] if argv is None else argv)])
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=110)  # a log file or pipe: keep each row on one line
    worker = WorkerSettings(args.pool, args.concurrency, args.loglevel)
    started_wall = datetime.now(UTC)
    started = time.monotonic()
    source = source_state()  # before the run: others may commit while it runs
    load_before = _loadavg()
    rows: list[Row] = []
    with bench_env(worker, raw_acks_late=args.raw_acks_late) as env:
        redis_version = str(env.r.info("server")["redis_version"])
        log(f"redis-server {redis_version} at {env.url}; worker {worker.describe()}")
        if "enqueue" in args.chosen:
            from . import enqueue

            log(f"enqueue: {args.rounds} rounds x {args.calls} calls per side, + 1 warm-up")
            rows.extend(enqueue.run(env, args.calls, args.rounds))
        if "throughput" in args.chosen:
            from . import throughput

            log(f"throughput: {args.throughput_rounds} rounds x {args.n} tasks per side")
            rows.extend(throughput.run(env, args.n, args.throughput_rounds, args.warmup_n))
        if "latency" in args.chosen:
            from . import latency

            log(f"latency: {args.samples} samples per side, interleaved")
            rows.extend(latency.run(env, args.samples, args.latency_warmup))
        if "gate" in args.chosen:
            from . import gate

            gate_worker = WorkerSettings(args.gate_pool, args.gate_concurrency, args.loglevel)
            log(
                f"gate: {gate.WORKERS} workers {gate_worker.describe()}; utilisation "
                f"{args.gate_rounds} x {args.gate_n} x {args.gate_sleep_ms:g} ms at limit "
                f"{args.gate_limit}; overhead {args.gate_rounds} x {args.gate_overhead_n} per "
                f"side; hand-off {args.handoff_samples} samples"
            )
            rows.extend(
                gate.run(
                    env,
                    gate_worker,
                    n=args.gate_n,
                    limit=args.gate_limit,
                    sleep_ms=args.gate_sleep_ms,
                    rounds=args.gate_rounds,
                    overhead_n=args.gate_overhead_n,
                    handoff_samples=args.handoff_samples,
                )
            )
        if "bulk" in args.chosen:
            from . import bulk

            log(
                f"bulk: enqueue {args.bulk_rounds} rounds ({args.bulk_n} per bulk call, "
                f"{args.bulk_loop_n} per loop); memory {args.memory_sizes}; end to end "
                f"{args.e2e_rounds} x {args.e2e_n} per side on {bulk.E2E_WORKERS} workers "
                f"{worker.describe()}"
            )
            rows.extend(
                bulk.run(
                    env,
                    n=args.bulk_n,
                    loop_n=args.bulk_loop_n,
                    rounds=args.bulk_rounds,
                    memory_sizes=args.memory_sizes,
                    e2e_n=args.e2e_n,
                    e2e_rounds=args.e2e_rounds,
                )
            )
        if "django" in args.chosen:
            from . import dj

            log(
                f"django: enqueue {args.dj_rounds} rounds x {args.dj_calls} calls per side; "
                f"model action e2e {args.dj_e2e_rounds} rounds x {args.dj_e2e_n} per side"
            )
            rows.extend(
                dj.run(env, worker, calls=args.dj_calls, rounds=args.dj_rounds,
                       e2e_n=args.dj_e2e_n, e2e_rounds=args.dj_e2e_rounds)
            )  # fmt: skip
        if "dashboard" in args.chosen:
            from . import dashboard

            log(f"dashboard: {args.dash_n:,} actions, {args.dash_samples} timings per query")
            rows.extend(dashboard.run(env, args.dash_n, args.dash_samples))
    duration = time.monotonic() - started
    versions = {name: _version(name) for name in ("celery", "kombu", "redis", "celery-actions")}
    raw_ack = "acks_late=True" if args.raw_acks_late else "Celery default (early ack)"
    load_after = _loadavg()
    header = [
        f"source: commit {source['commit']}, celery_actions/ {source['library']}; "
        f"1-min load average before/after: {load_before} / {load_after} "
        "(other processes on the machine skew absolutes; read the ratios)",
        f"worker: {worker.describe()} (both sides); raw tasks: {raw_ack}; actions: acks_late",
        f"redis-server {redis_version} (embedded, private); "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + f"; python {platform.python_version()}; {os.cpu_count()} CPUs",
        "enqueue: no worker, queue purged between batches; throughput: all tasks enqueued "
        "before a fresh worker starts, timed from the first task's start to the last task's "
        "end (stamped by the task bodies); latency: idle worker, body start - enqueue call",
    ]
    if "gate" in args.chosen:
        header.append(
            f"gate: 2 workers -P {args.gate_pool} -c {args.gate_concurrency} each; "
            "utilisation = achieved rate / ideal L/t (= ideal span N*t/L / first start->last "
            "end); max concurrency counted by the bodies (must equal L); overhead: "
            "enqueue_many call -> last body, queue of limit 100 vs no queue, interleaved; "
            "hand-off: holder body end -> next body start in a limit-1 queue (info; vs raw "
            "apply_async -> body start on the same idle workers)"
        )
    if "bulk" in args.chosen:
        header.append(
            f"bulk enqueue: no worker, purged between sides, rounds interleaved; enqueue_many, "
            f"RQ enqueue_many (prepare_data + one pipeline) and the LPUSH ceiling (pipelined, "
            f"batches of 1000, payload = one raw Celery message) on {args.bulk_n} items; the "
            f"per-item loops (apply_async, actions.enqueue, Dramatiq send) on "
            f"{args.bulk_loop_n} items: rates per second; RQ on db 2, Dramatiq on db 3 of "
            "the same redis-server. memory: peak RSS over the call (VmHWM - VmRSS before) in "
            "a fresh process per size, input list built first; end to end: 2 workers "
            f"{worker.describe()}, enqueue call -> last body, {args.e2e_rounds} round(s) per "
            "side"
        )
    header.append(f"total runtime: {duration:.1f} s")
    console.print()
    render(rows, header, command, console)
    report: dict[str, Any] = {
        "command": command,
        "started_at": started_wall.isoformat(),
        "duration_s": round(duration, 1),
        "source": source,
        "load_average_1min": {"before": load_before, "after": load_after},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "redis_server": redis_version,
            **versions,
        },
        "worker": {
            "pool": worker.pool,
            "concurrency": worker.concurrency,
            "loglevel": worker.loglevel,
            "raw_acks_late": args.raw_acks_late,
        },
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "rows": [row.to_json() for row in rows],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"results: {args.json}", highlight=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
