"""``python -m benchmarks``: celery-actions vs raw Celery, in one run, on one private Redis.

Starts an embedded redis-server on a free port and worker subprocesses of
``benchmarks.bench_app`` (the same app, Celery configuration and worker settings for
both sides), runs the chosen benchmarks with A/B interleaving, prints a table of ratios
and writes ``benchmarks/results/latest.json``.
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

BENCHMARKS = ("enqueue", "throughput", "latency")
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="celery-actions vs raw Celery on one private Redis: enqueue cost, "
        "throughput, enqueue-to-start latency (ratios actions/raw).",
    )
    p.add_argument(
        "--only",
        default=",".join(BENCHMARKS),
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
    if unit == "tasks/s":
        return f"{value:,.0f} /s"
    return f"{value:.2f} ms"


def render(rows: list[Row], header: list[str], command: str, console: Console) -> None:
    """Print the results table, then the command that produced it."""
    table = Table(title="celery-actions vs raw Celery (ratio = celery-actions / raw celery)")
    for column, justify in (
        ("benchmark", "left"),
        ("celery-actions", "right"),
        ("raw celery", "right"),
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
        f"total runtime: {duration:.1f} s",
    ]
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
