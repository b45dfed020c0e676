"""The Django benchmarks: the transactional outbox's cost, and model actions end to end.

``enqueue in atomic()``: one ``actions.enqueue`` inside the transaction that creates a row
(the outbox path: an outbox row in the transaction, the publish at commit) against the
same transaction followed by the enqueue after it commits (the publish-at-once path).
Both pay for the same row and the same commit; the figure is the median over rounds of
each batch's mean time per call. An informational pair compares a transaction holding
only the enqueue with a plain enqueue (the whole cost of a transaction of its own).

``model action end to end``: N actions through one worker, the model action ``bump``
(the record loaded by id, updated in a transaction) against the global action
``bump_global`` doing the same work itself; enqueue_many call to the last result.

The database is a SQLite file (``DATABASE_URL``: PostgreSQL); the project is
``benchmarks.djbench`` under the key prefix ``djbench:``.
"""

from __future__ import annotations

import gc
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from celery_actions.testing.processes import WorkerProcess

from .common import REPO_ROOT, BenchEnv, Row, WorkerSettings, log, median

ENQUEUE_TARGET = 1.5
E2E_TARGET = 0.8
ENQUEUE_SIDES = ("in_atomic", "after_commit", "bare_atomic", "plain")
PREFIX = "djbench:"


@contextmanager
def django_project(env: BenchEnv) -> Iterator[str]:
    """Django set up for ``benchmarks.djbench``, migrated; yields the database's name."""
    with tempfile.TemporaryDirectory(prefix="djbench-") as folder:
        os.environ.setdefault("BENCH_SQLITE", str(Path(folder) / "bench.sqlite3"))
        os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.djbench.settings"
        import django
        from django.core.management import call_command
        from django.db import connection

        django.setup()
        call_command("migrate", verbosity=0)
        yield f"{connection.vendor} {connection.settings_dict['NAME']}"


def _clean(env: BenchEnv) -> None:
    from celery_actions.django.models import OutboxEntry

    from .djbench.models import Item

    env.purge()
    for key in env.r.scan_iter(match=f"{PREFIX}*", count=1000):
        env.r.unlink(key)
    OutboxEntry.objects.all().delete()
    Item.objects.all().delete()


def _enqueue_calls() -> dict[str, Callable[[int], object]]:
    from django.db import transaction

    from .djbench.actions import noop
    from .djbench.celery_app import actions
    from .djbench.models import Item

    def in_atomic(i: int) -> object:
        with transaction.atomic():
            Item.objects.create(count=i)
            return actions.enqueue(noop, {"n": i})

    def after_commit(i: int) -> object:
        with transaction.atomic():
            Item.objects.create(count=i)
        return actions.enqueue(noop, {"n": i})

    def bare_atomic(i: int) -> object:
        with transaction.atomic():
            return actions.enqueue(noop, {"n": i})

    def plain(i: int) -> object:
        return actions.enqueue(noop, {"n": i})

    return {"in_atomic": in_atomic, "after_commit": after_commit, "bare_atomic": bare_atomic,
            "plain": plain}  # fmt: skip


def run_enqueue(env: BenchEnv, calls: int, rounds: int, database: str) -> list[Row]:
    """Interleaved batches of each side; per-call cost in microseconds."""
    call_of = _enqueue_calls()
    per_call: dict[str, list[float]] = {side: [] for side in ENQUEUE_SIDES}
    for rnd in range(rounds + 1):
        shift = rnd % len(ENQUEUE_SIDES)
        for side in ENQUEUE_SIDES[shift:] + ENQUEUE_SIDES[:shift]:
            _clean(env)
            gc.collect()
            call = call_of[side]
            start = time.perf_counter()
            for i in range(calls):
                call(i)
            elapsed = time.perf_counter() - start
            if rnd > 0:  # round 0 is the warm-up
                per_call[side].append(elapsed / calls * 1e6)
        if rnd > 0:
            log(f"django enqueue round {rnd}/{rounds}: " + ", ".join(
                f"{side} {per_call[side][-1]:.0f} us" for side in ENQUEUE_SIDES))  # fmt: skip
    _clean(env)
    details = {"database": database, "calls_per_batch": calls, "rounds": rounds,
               **{f"{side}_us_per_round": per_call[side] for side in ENQUEUE_SIDES}}  # fmt: skip
    return [
        Row(
            benchmark="django: enqueue in atomic() (outbox) vs after its commit",
            unit="us/call",
            actions=median(per_call["in_atomic"]),
            raw=median(per_call["after_commit"]),
            target=ENQUEUE_TARGET,
            higher_is_better=False,
            details=details,
            baseline="the same transaction, enqueue after it",
        ),
        Row(
            benchmark="django: enqueue alone in atomic() vs plain enqueue (info)",
            unit="us/call",
            actions=median(per_call["bare_atomic"]),
            raw=median(per_call["plain"]),
            target=None,
            higher_is_better=False,
            details={"database": database},
            baseline="plain enqueue",
        ),
    ]


def run_e2e(env: BenchEnv, worker: WorkerSettings, n: int, rounds: int, database: str):
    """Model action vs global action, end to end through one worker; actions per second."""
    from .djbench.actions import bump, bump_global
    from .djbench.celery_app import actions
    from .djbench.models import Item

    _clean(env)
    Item.objects.bulk_create([Item() for _ in range(n)])
    ids = list(Item.objects.order_by("pk").values_list("pk", flat=True))
    sides: dict[str, Callable[[], Any]] = {
        "model": lambda: actions.enqueue_many(bump, [{"id": pk} for pk in ids]),
        "global": lambda: actions.enqueue_many(bump_global, [{"item_id": pk} for pk in ids]),
    }
    rates: dict[str, list[float]] = {"model": [], "global": []}
    proc = WorkerProcess(
        "benchmarks.djbench.celery_app", redis_url=env.url, key_prefix=PREFIX,
        name=f"djbench-{uuid.uuid4().hex[:6]}@bench", pool=worker.pool,
        concurrency=worker.concurrency, args=("-l", worker.loglevel), cwd=str(REPO_ROOT),
    )  # fmt: skip
    proc.start(timeout=60)
    try:
        for rnd in range(rounds + 1):
            order = ("model", "global") if rnd % 2 else ("global", "model")
            for side in order:
                start = time.perf_counter()
                sides[side]().results(timeout=600)
                elapsed = time.perf_counter() - start
                if rnd > 0:
                    rates[side].append(n / elapsed)
            if rnd > 0:
                log(f"django e2e round {rnd}/{rounds}: model {rates['model'][-1]:.0f}/s, "
                    f"global {rates['global'][-1]:.0f}/s")  # fmt: skip
    finally:
        proc.stop()
        proc.log.unlink(missing_ok=True)
    _clean(env)
    return [
        Row(
            benchmark=f"django: model action end to end ({n}) vs global action",
            unit="tasks/s",
            actions=median(rates["model"]),
            raw=median(rates["global"]),
            target=E2E_TARGET,
            higher_is_better=True,
            details={
                "database": database,
                "n": n,
                "rounds": rounds,
                "worker": worker.describe(),
                **{f"{k}_per_s": v for k, v in rates.items()},
            },
            baseline="a global action doing the same work",
        )
    ]


def run(env: BenchEnv, worker: WorkerSettings, *, calls: int, rounds: int, e2e_n: int,
        e2e_rounds: int) -> list[Row]:  # fmt: skip
    """Both Django benchmarks."""
    with django_project(env) as database:
        log(f"django: database {database}")
        rows = run_enqueue(env, calls, rounds, database)
        rows += run_e2e(env, worker, e2e_n, e2e_rounds, database)
    return rows
