"""``make chaos``: long fault runs against real workers and a real Redis, then the figures.

Scenarios (each on a fresh redis-server with an append-only file):

- ``storm``: 1,000 actions (five queues limited to 1..5 and one unlimited; a tenth fail
  once and are retried) on two prefork and two threads workers, while 20 SIGKILLs hit
  random workers (each replaced at once).
- ``restart``: 200 actions longer than the lease; Redis is stopped and started again
  (3 s down) while they run.
- ``pause``: 200 actions; ``CLIENT PAUSE`` for twice the lease while they run.

Printed for each: lost, run twice, the most running at once against each queue's limit,
slots and keys left behind, and how long killed attempts took to start again.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
from pathlib import Path

import redis
from rich.console import Console
from rich.table import Table

from celery_actions.redis.keys import Keys
from celery_actions.testing import EmbeddedRedis, WorkerProcess, wait_for

from .observe import Report, observe

LEASE_S = 3.0
ENV = {"ACTIONS_LEASE_TIMEOUT": str(LEASE_S), "ACTIONS_PUMP_INTERVAL": "0.2",
       "ACTIONS_DISPATCH_TIMEOUT": "5"}  # fmt: skip
QUEUES = {f"q{limit}": limit for limit in range(1, 6)}
RESULTS = Path(__file__).parent / "results" / "latest.json"


class Run:
    """One scenario's server, workers and jobs."""

    def __init__(self, server: EmbeddedRedis, name: str, seed: int) -> None:
        self.server = server
        self.name = name
        self.rng = random.Random(seed)
        self.r = redis.Redis.from_url(server.url, decode_responses=True)
        self.r.flushall()
        self.workers: list[WorkerProcess] = []
        self.kills: list[tuple[str, float]] = []
        self.reclaims: list[float] = []
        self.watchers: list[threading.Thread] = []
        self.jobs: dict[str, tuple[str, str | None, int]] = {}
        self._serial = 0

    def start_worker(self, pool: str) -> WorkerProcess:
        self._serial += 1
        worker = WorkerProcess(
            "chaos.app", redis_url=self.server.url, name=f"{self.name}{self._serial}@chaos",
            pool=pool, concurrency=2 if pool == "prefork" else 4, env=ENV,
            cwd=str(Path(__file__).parent.parent),
        ).start(timeout=60)  # fmt: skip
        self.workers.append(worker)
        return worker

    def enqueue(self, count: int, ms: tuple[int, int]) -> None:
        from chaos.app import actions, work

        items = []
        for i in range(count):
            queue = self.rng.choice([*QUEUES, None])
            params = {"job": f"j{i}", "ms": self.rng.randint(*ms),
                      "failures": 1 if self.rng.random() < 0.1 else 0}  # fmt: skip
            options = {"queue": {"name": queue, "maxConcurrency": QUEUES[queue]}} if queue else {}
            items.append((params, options))
        handles = actions.enqueue_many(work, items)
        for i, (handle, (_, options)) in enumerate(zip(handles, items, strict=True)):
            queue = options["queue"]["name"] if options else None
            self.jobs[f"j{i}"] = (handle.id, queue, QUEUES.get(queue or "", 0))

    def kill_one(self) -> None:
        live = [w for w in self.workers if w.alive]
        victim = self.rng.choice(live)
        running = self._running_on(victim.name)
        victim.kill(signal.SIGKILL)
        killed = time.time()
        self.kills.append((victim.name, killed))
        watcher = threading.Thread(target=self._watch, args=(running, killed), daemon=True)
        watcher.start()
        self.watchers.append(watcher)
        self.start_worker(victim.pool)

    def _running_on(self, node: str) -> dict[str, str]:
        """The actions a worker runs now: id -> token."""
        ids = [action_id for action_id, _, _ in self.jobs.values()]
        pipe = self.r.pipeline(transaction=False)
        for action_id in ids:
            pipe.hmget(Keys().job(action_id), "status", "worker", "token")
        return {
            action_id: token
            for action_id, (status, worker, token) in zip(ids, pipe.execute(), strict=True)
            if status == "running" and (worker or "").startswith(node + ":")
        }

    def _watch(self, running: dict[str, str], killed: float) -> None:
        """Time until each action a kill cut short is taken back (its lease reclaimed and
        the action dispatched again), from outside."""
        left = dict(running)
        r = redis.Redis.from_url(self.server.url, decode_responses=True)
        while left and time.time() - killed < 120:
            for action_id, token in list(left.items()):
                status, current = r.hmget(Keys().job(action_id), "status", "token")
                if status != "running" or current != token:
                    self.reclaims.append(time.time() - killed)
                    del left[action_id]
            time.sleep(0.05)  # polling from outside; the measurement's resolution

    def finished(self) -> bool:
        pipe = self.r.pipeline(transaction=False)
        for action_id, _, _ in self.jobs.values():
            pipe.hget(Keys().job(action_id), "status")
        try:
            statuses = pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError):
            return False  # Redis is down or paused: this is the fault being ridden out
        return all(s in ("complete", "failed", "cancelled") for s in statuses)

    def settle(self, timeout: float) -> float:
        started = time.monotonic()
        wait_for(self.finished, timeout=timeout, interval=0.25, what=f"{self.name}: all done")
        wait_for(lambda: self.r.zcard(Keys().leases) == 0, timeout=30, what="leases released")
        return time.monotonic() - started

    def report(self) -> Report:
        for watcher in self.watchers:
            watcher.join(timeout=130)
        report = observe(self.r, Keys(), self.name, self.jobs, self.kills)
        report.reclaims_s = list(self.reclaims)
        return report

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()


def storm(server: EmbeddedRedis, seed: int, kills: int, actions: int) -> Report:
    run = Run(server, "storm", seed)
    try:
        for pool in ("prefork", "prefork", "threads", "threads"):
            run.start_worker(pool)
        run.enqueue(actions, (50, 400))
        for _ in range(kills):
            time.sleep(run.rng.uniform(0.5, 1.5))  # the storm's rhythm, not a synchronisation
            run.kill_one()
        run.settle(timeout=600)
        report = run.report()
        report.notes.append(f"{kills} SIGKILLs of whole workers (pool included)")
        return report
    finally:
        run.stop()


def outage(server: EmbeddedRedis, seed: int, name: str, actions: int) -> Report:
    run = Run(server, name, seed)
    try:
        for pool in ("prefork", "prefork", "threads", "threads"):
            run.start_worker(pool)
        run.enqueue(actions, (1000, 4000))
        time.sleep(3)  # let actions get going before the fault
        fault_started = time.monotonic()
        if name == "restart":
            server.restart(down_s=3.0)
            note = "Redis stopped (AOF) and started again after 3 s"
        else:
            run.r.execute_command("CLIENT", "PAUSE", int(2 * LEASE_S * 1000), "ALL")
            note = f"CLIENT PAUSE {2 * LEASE_S:g} s ALL (twice the {LEASE_S:g} s lease)"
        run.r = redis.Redis.from_url(server.url, decode_responses=True)
        run.settle(timeout=600)
        report = run.report()
        report.notes.append(note)
        report.notes.append(f"all done {time.monotonic() - fault_started:.1f}s after the fault")
        return report
    finally:
        run.stop()


def show(reports: list[Report]) -> None:
    table = Table("scenario", "jobs", "lost", "run twice", "max running / limit",
                  "leaked slots", "keys left", "taken back after a kill",
                  "started again after a kill", title="chaos")  # fmt: skip
    for rep in reports:
        limits = ", ".join(
            f"{q} {seen}/{lim}" for q, (seen, lim) in sorted(rep.max_running.items())
        )
        figures = rep.as_json()
        reclaim, restart = _spread_text(figures["reclaim_s"]), _spread_text(figures["recovery_s"])
        twice = str(rep.ran_twice) + (f" ({rep.twice_in_window} in the outcome window)"
                                      if rep.twice_in_window else "")  # fmt: skip
        table.add_row(rep.name, str(rep.jobs), str(rep.lost), twice, limits,
                      str(rep.leaked_slots), str(len(rep.keys_left)), reclaim, restart)  # fmt: skip
    Console(width=160).print(table)
    for rep in reports:
        for note in rep.notes:
            print(f"{rep.name}: {note}")
        if rep.keys_left:
            print(f"{rep.name}: keys left: {rep.keys_left[:10]}")


def _spread_text(spread: dict[str, float] | None) -> str:
    return (
        "-"
        if spread is None
        else f"n {spread['n']:g}, median {spread['median']}s, max {spread['max']}s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["storm", "restart", "pause"], action="append")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--actions", type=int, default=1000)
    args = parser.parse_args(argv)
    scenarios = args.only or ["storm", "restart", "pause"]
    reports = []
    with EmbeddedRedis(appendonly=True) as server:
        os.environ["REDIS_URL"] = server.url  # chaos.app, imported by the producer below
        for name in scenarios:
            if name == "storm":
                reports.append(storm(server, args.seed, args.kills, args.actions))
            else:
                reports.append(outage(server, args.seed, name, max(args.actions // 5, 50)))
    show(reports)
    RESULTS.parent.mkdir(exist_ok=True)
    kept = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    ran = {r.name for r in reports}  # --only updates its scenarios, keeps the others
    merged = [*(k for k in kept if k["name"] not in ran), *(r.as_json() for r in reports)]
    RESULTS.write_text(json.dumps(merged, indent=2) + "\n")
    bad = [
        r for r in reports
        if r.lost or r.ran_twice > r.twice_in_window or r.leaked_slots or not r.limits_held
    ]  # fmt: skip
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
