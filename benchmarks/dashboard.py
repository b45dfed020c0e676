"""The dashboard at a million records: counts and pages from the indexes, and what a
finished action costs in Redis.

Populates ``n`` actions (default 1,000,000) through the real Lua scripts: ``enqueue_many``
(enqueue.lua), then the claim.lua and finish.lua calls a worker makes (pipelined, no
Celery worker: the records, indexes, timelines and result metas are the ones a worker
writes), cancel.lua for some. The mix: 85% complete, 5% failed (after a retry: each has a
timeline with two tracebacks), 2% cancelled, 1% retrying, 1% running, 3% waiting, 3%
scheduled; ten action names; 1% in the queue ``supplier``, 20% in 10,000 per-customer
queues (``customer-<k>``). The broker's messages are purged as it goes.

Then it times, ``samples`` times each, every query the dashboard makes: the status
counts, each kind of count and the first and a deep page (cursor half-way) of each kind
of filter, and a search by id. Each row's figure is the p95 in ms against the 50 ms budget
(ratio <= 1). Memory: ``MEMORY USAGE`` of a completed record plus its result meta (mean
of 2,000) against 600 B, of a failed one with its timeline (info), and ``INFO memory``'s
``used_memory`` per action including the indexes (info).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from celery_actions import ActionStatus
from celery_actions.core.protocol import Field, Outcome
from celery_actions.core.settings import Settings
from celery_actions.redis import scripts
from celery_actions.redis.listing import ActionFilter, ActionIndex, Cursor
from celery_actions.redis.records import AttemptOutcome
from celery_actions.redis.store import Store

from .common import BenchEnv, Row, log, median, percentile

BUDGET_MS = 50.0
BUDGET_BYTES = 600.0
CHUNK = 10_000
CUSTOMERS = 10_000
ACTIONS = (
    "shop.send_email",
    "shop.daily_report",
    "shop.charge_card",
    "shop.sync_product",
    "shop.sync_customer",
    "shop.refund",
    "shop.export_orders",
    "shop.resize_image",
    "shop.notify_slack",
    "shop.reindex",
)
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/shop/actions.py", line 42, in sync_customer\n'
    "    response = supplier.get(customer_id)\n"
    '  File "/srv/shop/supplier.py", line 17, in get\n'
    "    raise SupplierError(503, 'unavailable')\n"
    "shop.supplier.SupplierError: HTTP 503: unavailable\n"
)


def _declare(env: BenchEnv) -> dict[str, Any]:
    """The benchmark's ten actions on the bench app (their bodies never run here)."""
    actions = env.bench.actions
    tasks: dict[str, Any] = {}
    for name in ACTIONS:
        if name in actions.registered:
            tasks[name] = actions.registered[name]
            continue

        def body(customer_id: int = 0, to: str = "") -> dict[str, Any]:
            return {"ok": True}

        tasks[name] = actions.action(name=name)(body)
    return tasks


def _plan(i: int) -> tuple[str, dict[str, Any], dict[str, Any] | None, str]:
    """Item i: its action, params, own options and the status it is to end in."""
    rnd = random.Random(i)
    roll = rnd.random() * 100
    if roll < 60:
        action, params, options = "shop.send_email", {"to": f"c{i % 997}@example.com"}, None
    elif roll < 70:
        action, params, options = "shop.daily_report", {}, None
    elif roll < 75:
        action, params, options = "shop.charge_card", {"customer_id": i % 5000}, None
    elif roll < 76:
        action = "shop.sync_product"
        params, options = {"customer_id": i}, {"queue": {"name": "supplier", "maxConcurrency": 100}}
    elif roll < 96:
        action, params = "shop.sync_customer", {"customer_id": i % CUSTOMERS}
        options = {"queue": {"name": f"customer-{i % CUSTOMERS}", "maxConcurrency": 1}}
    else:
        action, params, options = ACTIONS[5 + i % 5], {"customer_id": i % 100}, None
    fate = rnd.random() * 100
    status = (
        "complete"
        if fate < 85
        else "failed"
        if fate < 90
        else "cancelled"
        if fate < 92
        else "retrying"
        if fate < 93
        else "running"
        if fate < 94
        else "waiting"
        if fate < 97
        else "scheduled"
    )
    return action, params, options, status


def populate(env: BenchEnv, n: int) -> dict[str, int]:
    """Write ``n`` actions through the Lua scripts (see the module doc); the statuses."""
    actions = env.bench.actions
    store = _store(env)
    tasks = _declare(env)
    scripts.ensure_loaded(store.client)
    result_writer = actions.runtime.result_writer  # the metas as a worker writes them
    assert result_writer is not None, "the bench app's result backend is this Redis"
    tally: dict[str, int] = {}
    later = datetime.now(UTC) + timedelta(days=3)
    started = time.monotonic()
    for base in range(0, n, CHUNK):
        plans = [_plan(i) for i in range(base, min(n, base + CHUNK))]
        ids: list[str] = []
        fates: list[str] = []
        by_action: dict[tuple[str, bool], list[tuple[int, Any]]] = {}
        for offset, (action, params, options, status) in enumerate(plans):
            item = params if options is None else (params, options)
            by_action.setdefault((action, status == "scheduled"), []).append((offset, item))
        slots: list[str] = [""] * len(plans)
        for (action, scheduled), items in by_action.items():
            shared = {"start_at": later} if scheduled else {}
            handles = actions.enqueue_many(tasks[action], [it for _, it in items], **shared)
            for (offset, _), handle in zip(items, handles, strict=True):
                slots[offset] = handle.id
        ids = slots
        fates = [p[3] for p in plans]
        env.purge()
        for status in fates:
            tally[status] = tally.get(status, 0) + 1
        _advance(store, result_writer, ids, fates, [p[0] for p in plans])
        if base and base % 100_000 == 0:
            rate = base / (time.monotonic() - started)
            log(f"dashboard: {base:,} actions written ({rate:,.0f}/s)")
    return tally


def _store(env: BenchEnv) -> Store:
    """The bench app's store, with leases that outlast the run (nothing here renews
    them: a running action must not be taken for one whose worker died)."""
    settings = env.bench.actions.settings
    conf = {
        "actions_redis_url": settings.redis_url,
        "actions_lease_timeout": 7 * 86400.0,
        "actions_dispatch_timeout": 7 * 86400.0,
    }
    return Store(Settings.from_conf(conf), env.bench.actions.runtime.client)


def _advance(
    store: Store, results: Any, ids: Sequence[str], fates: Sequence[str], names: Sequence[str]
) -> None:
    """Move each enqueued action to its planned status with the scripts a worker runs."""
    client = store.client
    keys = store.keys
    pipe = client.pipeline(transaction=False)
    for action_id in ids:
        pipe.hget(keys.job(action_id), Field.TOKEN)
    tokens = pipe.execute()
    to_run = [
        (i, a, t, f, name)
        for i, (a, t, f, name) in enumerate(zip(ids, tokens, fates, names, strict=True))
        if f in ("complete", "failed", "retrying", "running") and t is not None
    ]  # (no token: it waits for a slot its queue's running actions hold)
    _pipelined(
        store,
        "claim",
        [
            store.claim_call(a, t, f"bench-worker@host:{i % 8}", name, uuid.uuid4().hex)
            for i, a, t, f, name in to_run
        ],
    )
    finishing: list[tuple[list[str], list[Any]]] = []
    for _, a, t, f, _ in to_run:
        if f == "complete":
            meta = results.encode(a, "SUCCESS", {"ok": True}, None, None, store.retention_ms(True))
            payload = (meta[0], meta[1], meta[2], "complete")
            finishing.append(
                store.finish_call(a, t, AttemptOutcome(Outcome.COMPLETE, result=payload))
            )
        elif f in ("failed", "retrying"):
            finishing.append(
                store.finish_call(
                    a,
                    t,
                    AttemptOutcome(
                        Outcome.RETRY,
                        delay_ms=3_600_000,
                        reason="retry 1 of 2 in 1h",
                        error="SupplierError: HTTP 503: unavailable",
                        error_type="shop.supplier.SupplierError",
                        traceback=TRACEBACK,
                    ),
                )
            )
    _pipelined(store, "finish", finishing)
    # the failed ones: their retry made due now, a second attempt that fails for good
    failed = [(a, name) for _, a, _, f, name in to_run if f == "failed"]
    if failed:
        pipe = client.pipeline(transaction=False)
        for a, _ in failed:
            pipe.zadd(keys.scheduled, {a: 0})
        pipe.execute()
        while store.pump(5000).dispatch.rows or client.zcount(keys.scheduled, 0, 0):
            pass
        pipe = client.pipeline(transaction=False)
        for a, _ in failed:
            pipe.hget(keys.job(a), Field.TOKEN)
        again = pipe.execute()
        _pipelined(
            store,
            "claim",
            [
                store.claim_call(a, t, "bench-worker@host:1", name, uuid.uuid4().hex)
                for (a, name), t in zip(failed, again, strict=True)
            ],
        )
        last: list[tuple[list[str], list[Any]]] = []
        for (a, _), t in zip(failed, again, strict=True):
            meta = results.encode(
                a,
                "FAILURE",
                RuntimeError("HTTP 503: unavailable"),
                TRACEBACK,
                None,
                store.retention_ms(False),
            )
            payload = (meta[0], meta[1], meta[2], "failed")
            last.append(
                store.finish_call(
                    a,
                    t,
                    AttemptOutcome(
                        Outcome.FAILED,
                        error="SupplierError: HTTP 503: unavailable",
                        error_type="shop.supplier.SupplierError",
                        traceback=TRACEBACK,
                        result=payload,
                    ),
                )
            )
        _pipelined(store, "finish", last)
    cancelled = [a for a, f in zip(ids, fates, strict=True) if f == "cancelled"]
    store.cancel_many(cancelled)


def _pipelined(store: Store, name: str, calls: Sequence[tuple[list[str], list[Any]]]) -> None:
    sha = scripts.sha(name)
    pipe = store.client.pipeline(transaction=False)
    for number, (keys, args) in enumerate(calls, 1):
        pipe.evalsha(sha, len(keys), *keys, store.keys.prefix, *args)
        if number % 2000 == 0:
            pipe.execute()
    pipe.execute()


def _timed(fn: Callable[[], object], samples: int) -> list[float]:
    fn()  # warm
    times: list[float] = []
    for _ in range(samples):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def _deep_cursor(index: ActionIndex, f: ActionFilter) -> Cursor | None:
    """A cursor half-way down the filter's first set (a deep page)."""
    key = index.sets(f)[0]
    client = index.store.client
    size = int(client.zcard(key))
    if size < 2:
        return None
    found = client.zrevrange(key, size // 2, size // 2, withscores=True)
    member, score = found[0]
    member = member.decode() if isinstance(member, bytes) else member
    return Cursor(int(score), member)


def measure(env: BenchEnv, samples: int) -> list[Row]:
    """Time each dashboard query (p95 against the budget)."""
    index = ActionIndex(env.bench.actions.runtime.store)
    done = (ActionStatus.COMPLETE,)
    hour_ago = int(time.time() * 1000) - 3_600_000
    filters = {
        "status complete": ActionFilter(done),
        "status failed": ActionFilter((ActionStatus.FAILED,)),
        "all statuses": ActionFilter(),
        "all statuses, last hour": ActionFilter(since_ms=hour_ago),
        "action (all statuses)": ActionFilter(action="shop.send_email"),
        "status + action": ActionFilter(done, action="shop.send_email"),
        "queue supplier (all statuses)": ActionFilter(queue="supplier"),
        "status + queue customer-7": ActionFilter(done, queue="customer-7"),
        "action + queue (checks records)": ActionFilter(
            action="shop.sync_customer", queue="customer-7"
        ),
    }
    rows: list[Row] = []

    def row(name: str, times: list[float], details: dict[str, Any]) -> Row:
        return Row(
            benchmark=f"dashboard: {name}, p95",
            unit="ms",
            actions=percentile(times, 95),
            raw=BUDGET_MS,
            target=1.0,
            higher_is_better=False,
            details={"median_ms": median(times), "max_ms": max(times), **details},
            baseline="vs the 50 ms budget",
        )

    rows.append(row("counts by status", _timed(index.status_counts, samples), {}))
    for name, f in filters.items():
        count = index.count(f)
        rows.append(
            row(
                f"count {name}",
                _timed(lambda f=f: index.count(f), samples),
                {"count": count.value, "exact": count.exact},
            )
        )
        first = index.page(f)
        rows.append(
            row(
                f"page of 50, {name}",
                _timed(lambda f=f: index.page(f), samples),
                {"rows": len(first.rows)},
            )
        )
        deep = _deep_cursor(index, f)
        if deep is not None and not f.scans:
            page = index.page(f, deep)
            rows.append(
                row(
                    f"deep page of 50, {name}",
                    _timed(lambda f=f, d=deep: index.page(f, d), samples),
                    {"rows": len(page.rows), "cursor": deep.encode()},
                )
            )
    some_id = first.rows[0].record["id"] if first.rows else "none"
    store = env.bench.actions.runtime.store
    rows.append(row("search by id", _timed(lambda: store.record(some_id), samples), {}))
    rows.append(row("per-minute chart (60 minutes)", _timed(index.minutes, samples), {}))
    t0 = time.perf_counter()
    trimmed = store.trim((0, 0))
    rows.append(
        row(
            "index trim pass (nothing expired)",
            _timed(lambda: store.trim((0, 0)), min(samples, 50)),
            {"removed": trimmed.removed, "first_ms": (time.perf_counter() - t0) * 1000},
        )
    )
    return rows


def memory(env: BenchEnv, n: int, used_before: int) -> list[Row]:
    """What a finished action costs: MEMORY USAGE of its record and result meta."""
    store = env.bench.actions.runtime.store
    index = ActionIndex(store)
    client = store.client
    backend = env.bench.app.backend

    def cost(status: ActionStatus, with_timeline: bool) -> tuple[float, float, float]:
        ids = [r.record["id"] for r in index.page(ActionFilter((status,)), size=2000).rows]
        pipe = client.pipeline(transaction=False)
        for action_id in ids:
            pipe.memory_usage(store.keys.job(action_id), samples=0)
            pipe.memory_usage(backend.get_key_for_task(action_id), samples=0)
            pipe.memory_usage(store.keys.timeline(action_id), samples=0)
        got = pipe.execute()
        records = [int(x or 0) for x in got[0::3]]
        metas = [int(x or 0) for x in got[1::3]]
        timelines = [int(x or 0) for x in got[2::3]] if with_timeline else [0]
        return (
            sum(records) / len(records),
            sum(metas) / len(metas),
            sum(timelines) / len(timelines),
        )

    record, meta, _ = cost(ActionStatus.COMPLETE, False)
    f_record, f_meta, f_timeline = cost(ActionStatus.FAILED, True)
    used = int(client.info("memory")["used_memory"]) - used_before
    index_bytes = 0
    for status in ActionStatus:
        index_bytes += int(client.memory_usage(store.keys.status_index(status), samples=0) or 0)
    server = str(client.info("server")["redis_version"])
    return [
        Row(
            benchmark="memory: completed action, record + result meta",
            unit="B",
            actions=record + meta,
            raw=BUDGET_BYTES,
            target=1.0,
            higher_is_better=False,
            details={
                "record_B": record,
                "result_meta_B": meta,
                "redis": server,
                "before": "1,380 B record + 504 B meta (PERF-NOTES, Redis 6.2)",
            },
            baseline="vs the 600 B budget",
        ),
        Row(
            benchmark="memory: failed action (2 attempts), record + meta + timeline",
            unit="B",
            actions=f_record + f_meta + f_timeline,
            raw=BUDGET_BYTES,
            target=None,
            higher_is_better=False,
            details={"record_B": f_record, "result_meta_B": f_meta, "timeline_B": f_timeline},
            baseline="vs the 600 B budget",
        ),
        Row(
            benchmark="memory: per action in all (used_memory delta, indexes included)",
            unit="B",
            actions=used / n,
            raw=BUDGET_BYTES,
            target=None,
            higher_is_better=False,
            details={
                "used_memory_delta": used,
                "actions": n,
                "status_indexes_B_per_action": index_bytes / n,
            },
            baseline="vs the 600 B budget",
        ),
    ]


def run(env: BenchEnv, n: int, samples: int) -> list[Row]:
    """Populate ``n`` actions, then time the dashboard's queries and measure memory."""
    env.clean()
    used_before = int(env.r.info("memory")["used_memory"])
    t0 = time.monotonic()
    tally = populate(env, n)
    log(f"dashboard: {n:,} actions written in {time.monotonic() - t0:.0f} s: {tally}")
    rows = measure(env, samples)
    rows.extend(memory(env, n, used_before))
    rows[0].details["statuses"] = tally
    return rows
