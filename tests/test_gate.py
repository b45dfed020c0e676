"""The queue gate on real worker processes: a global maxConcurrency that holds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import redis

from celery_actions import ActionStatus, ConfigurationError
from celery_actions.redis.checks import check_redis
from celery_actions.testing import WorkerProcess, wait_for
from tests.helpers import group_keys_pattern

FAST = {"ACTIONS_LEASE_TIMEOUT": "2", "ACTIONS_PUMP_INTERVAL": "0.2"}


@pytest.fixture(scope="module")
def two_workers(redis_url):
    workers = [
        WorkerProcess("tests.app", redis_url=redis_url, name=f"gate{i}@test", concurrency=6,
                      env=FAST).start()
        for i in range(2)
    ]  # fmt: skip
    yield workers
    for w in workers:
        w.stop()


@pytest.mark.parametrize("limit", [1, 3])
def test_running_actions_never_exceed_the_limit(tapp, two_workers, r, keys, uid, limit):
    # Given two worker processes with 12 threads between them
    key = f"gate-{uid}"
    queue = {"name": f"q-{uid}", "maxConcurrency": limit}
    # When 12 actions of a queue with limit L are enqueued at once
    handles = tapp.actions.enqueue_many(tapp.gated, [{"key": key, "ms": 150}] * 12, queue=queue)
    # Then the observed maximum of concurrently running actions is exactly L
    for h in handles:
        h.result(timeout=60)
    assert int(r.get(f"{key}:max")) == limit
    # And an idle queue leaves no keys behind
    assert not list(r.scan_iter(group_keys_pattern(keys, f"q-{uid}")))
    assert r.zscore(keys.groups, f"q-{uid}") is None


def test_waiting_status_has_a_reason(tapp, two_workers, r, uid, redis_url):
    # Given a queue of limit 2 whose two slots are held by running actions
    queue = {"name": f"emails-{uid}", "maxConcurrency": 2}
    holders = [
        tapp.actions.enqueue(tapp.hold, {"key": f"s-{uid}", "release": f"rel-{uid}"}, queue=queue)
        for _ in range(2)
    ]
    wait_for(lambda: all(h.status() is ActionStatus.RUNNING for h in holders), what="running")
    # When a third action of the queue is enqueued
    third = tapp.actions.enqueue(tapp.add, {"a": 1}, queue=queue)
    # Then it waits, and its status says why
    info = third.info()
    assert info.status is ActionStatus.WAITING
    assert info.reason == f"queue emails-{uid}: 2 of 2 slots in use"
    # And `celery actions queues` shows the limit, the holders and the waiter
    out = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "tests.app", "actions", "queues", "--json"],
        capture_output=True, text=True, check=True, env={**os.environ, "REDIS_URL": redis_url},
    ).stdout  # fmt: skip
    shown = {q["name"]: q for q in json.loads(out)}[f"emails-{uid}"]
    assert (shown["limit"], shown["running"], shown["waiting"]) == (2, 2, 1)
    assert {h["id"] for h in shown["holders"]} == {h.id for h in holders}
    assert all(h["status"] == "running" and h["worker"] for h in shown["holders"])
    # And once the holders are released, it runs
    r.set(f"rel-{uid}", 1)
    assert third.result(timeout=20) == 1


def test_priority_order_inside_a_limited_queue(tapp, two_workers, r, keys, uid):
    # Given a queue of limit 1 whose slot is held by a running action
    queue = f"prio-{uid}"
    busy = tapp.actions.enqueue(tapp.hold, {"key": f"s-{uid}", "release": f"rel-{uid}"},
                                queue=queue)  # fmt: skip
    wait_for(lambda: busy.status() is ActionStatus.RUNNING, what="busy")
    # When actions of mixed priorities join it
    key = f"order-{uid}"
    order = ["low", "default", "high", "low", "high"]
    handles = [
        tapp.actions.enqueue(tapp.record, {"key": key, "value": f"{p}-{i}"}, queue=queue,
                             priority=p)
        for i, p in enumerate(order)
    ]  # fmt: skip
    assert all(h.status() is ActionStatus.WAITING for h in handles)
    # (each keeps its Celery envelope, pushed by the Lua admission itself when a slot frees)
    assert all(r.hexists(keys.job(h.id), "env") for h in handles)
    r.set(f"rel-{uid}", 1)
    for h in handles:
        h.result(timeout=20)
    # Then they ran highest priority first, arrival order within one, and kept no envelope
    assert not any(r.hexists(keys.job(h.id), "env") for h in handles)
    assert r.lrange(key, 0, -1) == ["high-2", "high-4", "default-1", "low-0", "low-3"]


def test_a_retry_delay_frees_the_slot(tapp, two_workers, r, uid):
    # Given a queue of limit 1 whose first action fails and waits 1.5 s to retry
    queue = f"retry-{uid}"
    first = tapp.actions.enqueue(
        tapp.fail_times, {"key": f"a-{uid}", "times": 1}, queue=queue,
        retries={"retryCount": 1, "initialInterval": 1500},
    )  # fmt: skip
    wait_for(lambda: first.status() is ActionStatus.RETRYING, what="retrying")
    # When another action of the queue arrives during the delay
    second = tapp.actions.enqueue(tapp.record, {"key": f"b-{uid}", "value": "x"}, queue=queue)
    # Then it runs at once, before the retry
    assert second.result(timeout=20) == "x"
    assert first.status() is ActionStatus.RETRYING
    assert first.result(timeout=20) == 2
    assert first.info().failures == 1


def test_scheduled_actions_go_through_the_gate_when_due(tapp, two_workers, r, uid):
    # Given six actions of a limit-2 queue, scheduled 1 s ahead
    key = f"gate-{uid}"
    queue = {"name": f"sched-{uid}", "maxConcurrency": 2}
    start_at = datetime.now(UTC) + timedelta(seconds=1)
    handles = tapp.actions.enqueue_many(
        tapp.gated, [{"key": key, "ms": 200}] * 6, queue=queue, start_at=start_at
    )
    assert {h.status() for h in handles} == {ActionStatus.SCHEDULED}
    # When they are due and run
    for h in handles:
        h.result(timeout=30)
    # Then two at most ran at once (and two did), none before its time
    assert int(r.get(f"{key}:max")) == 2
    assert min(int(t) for t in r.lrange(f"{key}:log", 0, -1)) >= start_at.timestamp() * 1000


def test_sigkill_returns_the_slot_and_the_action_completes(tapp, start_worker, r, keys, uid):
    # Given a limit-1 queue whose action runs on worker A, and one more waiting
    queue = f"kill-{uid}"
    only_here = ("-Q", queue)  # a Celery queue only this test's workers consume
    a = start_worker("tests.app", env=FAST, concurrency=2, args=only_here)
    victim = tapp.actions.enqueue(tapp.slow, {"key": f"v-{uid}", "seconds": 2}, queue=queue,
                                  retries=0, celery_queue=queue)  # fmt: skip
    wait_for(lambda: victim.status() is ActionStatus.RUNNING, what="victim running")
    assert victim.info().worker.startswith(a.name)
    waiter = tapp.actions.enqueue(tapp.record, {"key": f"w-{uid}", "value": "w"}, queue=queue,
                                  celery_queue=queue)  # fmt: skip
    assert waiter.status() is ActionStatus.WAITING
    start_worker("tests.app", env=FAST, concurrency=2, args=only_here)
    # When A is SIGKILLed mid-action
    a.kill(signal.SIGKILL)
    # Then the slot comes back (lease expiry), the action runs again and completes,
    # and the waiting action runs too; no manual step
    assert victim.result(timeout=30) == "done"
    assert waiter.result(timeout=30) == "w"
    assert r.llen(f"v-{uid}") == 2
    wait_for(lambda: r.zcard(keys.group_slots(queue)) == 0, what="slots empty")


def test_worker_refuses_an_evicting_redis(redis_url):
    # Given a Redis that may evict keys: an allkeys policy and a memory limit
    client = redis.Redis.from_url(redis_url)
    client.config_set("maxmemory-policy", "allkeys-lru")
    client.config_set("maxmemory", "4gb")
    worker = WorkerProcess("tests.app", redis_url=redis_url, name="evict@test")
    try:
        # When a worker starts, then it refuses, saying what to set
        with pytest.raises(AssertionError, match="exited"):
            worker.start(timeout=30)
        assert "maxmemory-policy noeviction" in worker.output()
        assert ConfigurationError.__name__ in worker.output()
    finally:
        worker.stop()
        client.config_set("maxmemory", "0")
        client.config_set("maxmemory-policy", "noeviction")
        client.close()


def test_an_allkeys_policy_without_a_memory_limit_evicts_nothing_and_is_accepted(redis_url):
    # Given an allkeys policy but no maxmemory (Redis never evicts then)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.config_set("maxmemory-policy", "allkeys-lru")
    try:
        # Then the start-up check neither refuses nor warns
        assert check_redis(client) == []
    finally:
        client.config_set("maxmemory-policy", "noeviction")
        client.close()


def test_a_thousand_queue_names_leave_nothing_behind(tapp, two_workers, r, keys, uid):
    # Given one queue per customer, a thousand of them
    items = [({"a": i}, {"queue": f"cust-{uid}-{i}"}) for i in range(1000)]
    # When each runs one action
    handles = tapp.actions.enqueue_many(tapp.add, items)
    assert handles.results(timeout=60) == list(range(1000))
    # Then no key of any of them remains, and no queue is listed as active
    assert not list(r.scan_iter(group_keys_pattern(keys, f"cust-{uid}-*"), count=10_000))
    active = r.zrange(keys.groups, 0, -1)
    assert not [name for name in active if name.startswith(f"cust-{uid}-")]
    assert not [name for name in r.hkeys(keys.group_limits) if name.startswith(f"cust-{uid}-")]
