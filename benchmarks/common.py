"""Shared pieces: the benchmark environment (Redis, app, workers), statistics, result rows."""

from __future__ import annotations

import importlib
import math
import os
import statistics
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import redis

from celery_actions.testing.embedded import EmbeddedRedis
from celery_actions.testing.processes import WorkerProcess

REPO_ROOT = Path(__file__).resolve().parent.parent
APP_MODULE = "benchmarks.bench_app"


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """How every worker of a run is started (the same for both sides)."""

    pool: str = "prefork"
    concurrency: int = 2
    loglevel: str = "WARNING"

    def describe(self) -> str:
        """``-P prefork -c 2 -l WARNING``."""
        return f"-P {self.pool} -c {self.concurrency} -l {self.loglevel}"


@dataclass(slots=True)
class Row:
    """One line of the results table: a measure for both sides and their ratio.

    ``raw`` is the baseline's figure: raw Celery unless ``baseline`` names another (a
    peer, an ideal, a ceiling). ``exact`` rows need the ratio to equal the target.
    """

    benchmark: str
    unit: str
    actions: float
    raw: float
    target: float | None
    higher_is_better: bool
    details: dict[str, Any] = field(default_factory=dict)
    baseline: str = "raw celery"
    exact: bool = False

    @property
    def ratio(self) -> float:
        """actions / raw."""
        return self.actions / self.raw if self.raw else math.inf

    @property
    def ok(self) -> bool | None:
        """True when the ratio meets the target; None for an informational row."""
        if self.target is None:
            return None
        if self.exact:
            return math.isclose(self.ratio, self.target)
        return self.ratio >= self.target if self.higher_is_better else self.ratio <= self.target

    @property
    def target_text(self) -> str:
        """``<= 1.5``, ``>= 0.7``, or ``info`` (no target)."""
        if self.target is None:
            return "info"
        if self.exact:
            return f"== {self.target:g}"
        return f"{'>=' if self.higher_is_better else '<='} {self.target:g}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "benchmark": self.benchmark,
            "unit": self.unit,
            "celery_actions": self.actions,
            "raw_celery": self.raw,
            "baseline": self.baseline,
            "ratio": self.ratio,
            "target": self.target_text,
            "ok": self.ok,
            "details": self.details,
        }


class BenchEnv:
    """A private redis-server, the benchmark app bound to it, and worker subprocesses."""

    def __init__(self, server: EmbeddedRedis, worker: WorkerSettings, raw_acks_late: bool) -> None:
        self.server = server
        self.url = server.url
        self.worker_settings = worker
        os.environ["REDIS_URL"] = self.url
        os.environ["BENCH_RAW_ACKS_LATE"] = "1" if raw_acks_late else ""
        self.app_module: ModuleType = importlib.import_module(APP_MODULE)
        self.r = redis.Redis.from_url(self.url)
        self._workers: list[WorkerProcess] = []

    @property
    def bench(self) -> Any:
        """The ``benchmarks.bench_app`` module (app, actions, tasks)."""
        return self.app_module

    def warm_up_client(self) -> None:
        """Open the producer's connections and load the Lua scripts (not measured)."""
        from celery_actions.redis import scripts

        scripts.ensure_loaded(self.bench.actions.runtime.store.client)
        self.purge()

    @contextmanager
    def worker(
        self, settings: WorkerSettings | None = None, *, started: bool = False
    ) -> Iterator[WorkerProcess]:
        """A worker subprocess for the duration of the block (started and ready).

        ``settings`` overrides the run's worker settings; ``started`` means the caller
        starts it (``workers()`` starts several at once).
        """
        ws = settings or self.worker_settings
        proc = WorkerProcess(
            APP_MODULE,
            redis_url=self.url,
            name=f"bench-{uuid.uuid4().hex[:8]}@bench",
            pool=ws.pool,
            concurrency=ws.concurrency,
            args=("-l", ws.loglevel),
            cwd=str(REPO_ROOT),
        )
        self._workers.append(proc)
        try:
            if not started:
                proc.start(timeout=60)
            yield proc
        except BaseException:
            log(f"worker log kept at {proc.log}")
            raise
        else:
            proc.log.unlink(missing_ok=True)
        finally:
            proc.stop()
            self._workers.remove(proc)

    @contextmanager
    def workers(
        self, count: int, settings: WorkerSettings | None = None
    ) -> Iterator[list[WorkerProcess]]:
        """``count`` worker subprocesses, started in parallel, for the duration of the block."""
        with ExitStack() as stack:
            procs = [stack.enter_context(self.worker(settings, started=True)) for _ in range(count)]
            with ThreadPoolExecutor(max_workers=count) as pool:
                for future in [pool.submit(p.start, 60) for p in procs]:
                    future.result()
            yield procs

    def purge(self) -> int:
        """Empty the Celery queue (every priority list); returns how many messages went."""
        app = self.bench.app
        with app.connection_for_write() as conn:
            return int(conn.default_channel.queue_purge(app.conf.task_default_queue) or 0)

    def clean(self) -> None:
        """Drop what earlier rounds left: job records, results, benchmark keys, messages."""
        self.purge()
        for pattern in ("actions:job:*", "actions:q:*", "celery-task-meta-*", "bench:*"):
            batch: list[bytes] = []
            for key in self.r.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    self.r.unlink(*batch)
                    batch.clear()
            if batch:
                self.r.unlink(*batch)
        self.r.delete("actions:scheduled", "actions:leases", "actions:queues")

    def stop_workers(self) -> None:
        """Stop any worker still running (on an error)."""
        for proc in list(self._workers):
            proc.stop()


@contextmanager
def bench_env(worker: WorkerSettings, raw_acks_late: bool = False) -> Iterator[BenchEnv]:
    """Start a private Redis on a free port and bind the benchmark app to it."""
    with EmbeddedRedis() as server:
        env = BenchEnv(server, worker, raw_acks_late)
        try:
            env.warm_up_client()
            yield env
        finally:
            env.stop_workers()


def source_state() -> dict[str, str]:
    """The git commit of the source tree, and whether the library has uncommitted edits."""

    def git(*args: str) -> str:
        try:
            out = subprocess.run(
                ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return out.stdout.strip() if out.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "celery_actions")
    return {"commit": commit, "library": "uncommitted edits" if dirty else "clean"}


def group_cpu_seconds(pgid: int) -> float | None:
    """CPU seconds (user + system) of the live processes of a process group (Linux /proc).

    A worker started by WorkerProcess leads its own session, so its group is the main
    process and its pool. None where /proc is not available.
    """
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        if int(fields[2]) == pgid:  # fields: state ppid pgrp ... utime(11) stime(12)
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def latency_rows(
    name: str,
    actions_ms: Sequence[float],
    raw_ms: Sequence[float],
    target: float | None,
    details: dict[str, Any],
    baseline: str = "raw celery",
) -> list[Row]:
    """The median row and the p99 row of two latency samples (lower is better)."""
    return [
        Row(
            benchmark=f"{name}, median",
            unit="ms",
            actions=median(actions_ms),
            raw=median(raw_ms),
            target=target,
            higher_is_better=False,
            details=details,
            baseline=baseline,
        ),
        Row(
            benchmark=f"{name}, p99",
            unit="ms",
            actions=percentile(actions_ms, 99),
            raw=percentile(raw_ms, 99),
            target=target,
            higher_is_better=False,
            details={"see": f"{name}, median row"},
            baseline=baseline,
        ),
    ]


def median(values: Sequence[float]) -> float:
    """The median."""
    return float(statistics.median(values))


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return float(ordered[rank - 1])


def log(message: str) -> None:
    """Progress on stderr-like output (flushed, so it shows during long runs)."""
    print(f"  {message}", flush=True)
