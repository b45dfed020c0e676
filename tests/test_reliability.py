"""Nothing lost, nothing run twice, with real faults: deploys (SIGTERM), a killed pool
child, messages lost in flight, forged messages, and dead workers."""

from __future__ import annotations

import os
import signal
import time

import pytest
from celery import Celery

from celery_actions import ActionStatus
from celery_actions.testing import wait_for

FAST = {"ACTIONS_LEASE_TIMEOUT": "2", "ACTIONS_PUMP_INTERVAL": "0.2"}


@pytest.mark.parametrize("pool", ["prefork", "threads", "gevent"])
def test_a_deploy_mid_long_actions_runs_none_twice_and_keeps_the_limit(
    tapp, keys, start_worker, r, uid, pool
):
    # Given a worker running two actions of a limit-2 queue that outlast the 2 s lease
    key = f"deploy-{uid}"
    queue = {"name": f"deploy-{uid}", "maxConcurrency": 2}
    old = start_worker("tests.app", env=FAST, pool=pool, concurrency=2)
    handles = [
        tapp.actions.enqueue(tapp.gated, {"key": key, "ms": 5000}, queue=queue) for _ in range(3)
    ]
    wait_for(lambda: r.llen(f"{key}:log") == 2, timeout=30, what="two running on the old worker")
    # When a new worker starts and the old one is told to stop (a deploy)
    start_worker("tests.app", env=FAST, pool=pool, concurrency=2)
    old.terminate()
    # Then the old worker finishes its actions, keeping their leases, and exits
    for h in handles:
        assert h.result(timeout=60) in (1, 2)
    wait_for(lambda: not old.alive, timeout=30, what="the old worker to exit")
    # And no action ran twice, and never more than two ran at once
    assert r.llen(f"{key}:log") == 3
    assert int(r.get(f"{key}:max")) == 2
    for h in handles:
        info = h.info()
        assert (info.status, info.attempts) == (ActionStatus.COMPLETE, 1)
        assert r.hget(keys.job(h.id), "dispatches") == "1"


def test_a_killed_pool_child_is_dispatched_again_at_once(tapp, start_worker, r, uid):
    # Given a prefork worker with a long lease (30 s) running an action
    worker = start_worker(
        "tests.app", env={"ACTIONS_LEASE_TIMEOUT": "30", "ACTIONS_PUMP_INTERVAL": "0.2"},
        pool="prefork", concurrency=1,
    )  # fmt: skip
    key = f"child-{uid}"
    h = tapp.actions.enqueue(tapp.slow, {"key": key, "seconds": 3}, retries=0)
    wait_for(lambda: h.status() is ActionStatus.RUNNING, what="running")
    child_pid = int(h.info().worker.rsplit(":", 1)[1])
    assert child_pid != worker.proc.pid
    # When its pool child is killed
    started = time.monotonic()
    os.kill(child_pid, signal.SIGKILL)
    # Then it runs again well before the lease would expire, and completes once more
    assert h.result(timeout=25) == "done"
    assert time.monotonic() - started < 20
    info = h.info()
    assert (info.attempts, info.failures) == (2, 0)  # a lost worker spends no retry
    assert r.llen(key) == 2


def test_a_cold_stop_dispatches_its_actions_again_at_once(tapp, start_worker, r, uid):
    # Given a prefork worker with a long lease (30 s) running an action, and a second worker
    env = {"ACTIONS_LEASE_TIMEOUT": "30", "ACTIONS_PUMP_INTERVAL": "0.2"}
    old = start_worker("tests.app", env=env, pool="prefork", concurrency=1)
    key = f"cold-{uid}"
    h = tapp.actions.enqueue(tapp.slow, {"key": key, "seconds": 3}, retries=0)
    wait_for(lambda: r.llen(key) == 1, what="running on the old worker")
    child_pid = int(h.info().worker.rsplit(":", 1)[1])
    start_worker("tests.app", env=env, pool="prefork", concurrency=1)
    # When the old worker is stopped cold (SIGQUIT: Celery cancels its running tasks)
    started = time.monotonic()
    old.proc.send_signal(signal.SIGQUIT)
    wait_for(lambda: not old.alive, timeout=30, what="the old worker to exit")
    # Then its action runs again on the other worker well before the lease would expire,
    # and only once its first run's process is gone
    assert h.result(timeout=25) == "done"
    assert time.monotonic() - started < 20
    with pytest.raises(ProcessLookupError):
        os.kill(child_pid, 0)
    assert r.llen(key) == 2 and h.info().attempts == 2


@pytest.mark.parametrize("gated", [False, True])
def test_a_message_lost_in_flight_is_dispatched_again_once(
    tapp, keys, start_worker, r, broker, uid, gated
):
    # Given an action dispatched while no worker runs
    key = f"lost-{uid}"
    options = {"queue": {"name": f"lost-{uid}", "maxConcurrency": 1}} if gated else {}
    h = tapp.actions.enqueue(tapp.record, {"key": key, "value": "v"}, options)
    # When its message vanishes from the broker (popped by a consumer killed mid-fetch)
    assert broker.take(h.id)
    r.zadd(keys.leases, {h.id: 0})  # and its dispatch timeout has passed
    # Then a worker's pump finds it missing and sends it again
    start_worker("tests.app", env=FAST)
    assert h.result(timeout=30) == "v"
    assert r.lrange(key, 0, -1) == ["v"]
    assert r.hget(keys.job(h.id), "dispatches") == "2"


def test_a_message_held_by_a_dead_consumer_is_dispatched_again_once(
    tapp, keys, start_worker, r, broker, uid
):
    # Given an action whose message a consumer took a minute ago and then died with
    key = f"stranded-{uid}"
    h = tapp.actions.enqueue(tapp.record, {"key": key, "value": "v"})
    assert broker.strand(h.id, delivered_s_ago=60)
    r.zadd(keys.leases, {h.id: 0})  # its dispatch timeout has passed
    # When a worker's pump looks for it
    start_worker("tests.app", env=FAST)
    # Then it is dispatched again (not left for kombu's hour-long visibility timeout)
    assert h.result(timeout=30) == "v"
    assert r.lrange(key, 0, -1) == ["v"]
    assert r.hget(keys.job(h.id), "dispatches") == "2"


def test_a_message_still_queued_is_not_dispatched_again(tapp, keys, start_worker, r, broker, uid):
    # Given an action dispatched to a Celery queue no worker consumes, past its timeout
    h = tapp.actions.enqueue(tapp.add, {"a": 1}, celery_queue=f"idle-{uid}")
    start_worker("tests.app", env={**FAST, "ACTIONS_DISPATCH_TIMEOUT": "0.5"})
    r.zadd(keys.leases, {h.id: 0})  # its dispatch lease lapses now
    wait_for(lambda: (r.zscore(keys.leases, h.id) or 0) > 0, what="the pump to look at it")
    # Then its message was found in the broker: it is not dispatched a second time
    assert r.hget(keys.job(h.id), "dispatches") == "1"
    assert broker.queued(f"idle-{uid}") == 1
    h.cancel()


def test_forged_messages_are_dropped_never_run(tapp, keys, module_worker, r, uid):
    # Given an action waiting for the slot of a limit-1 queue
    queue = {"name": f"forge-{uid}", "maxConcurrency": 1}
    release = f"rel-{uid}"
    holder = tapp.actions.enqueue(tapp.hold, {"key": f"h-{uid}", "release": release}, queue=queue)
    wait_for(lambda: holder.status() is ActionStatus.RUNNING, what="the holder running")
    key = f"forge-{uid}"
    job = tapp.actions.enqueue(tapp.record, {"key": key, "value": "real"}, queue=queue)
    assert job.status() is ActionStatus.WAITING
    # When plain Celery sends messages with its id: a guessed token, and another task
    forger = Celery("forger", broker=tapp.REDIS_URL)
    forger.send_task(
        "tests.app.record", kwargs={"key": key, "value": "forged"}, task_id=job.id,
        headers={"actions_token": "1"},
    )  # fmt: skip
    running_token = r.hget(keys.job(holder.id), "token")
    forger.send_task(
        "tests.app.add",
        kwargs={"a": 1},
        task_id=holder.id,
        headers={"actions_token": running_token},
    )
    wait_for(
        lambda: (
            "dropped a forged message" in module_worker.output()
            and module_worker.output().count(f"dropped a stale message for {job.id}") >= 1
        ),
        what="both forged messages dropped",
    )
    # Then neither ran: the job runs once its slot frees, with its own params
    r.set(release, 1)
    assert holder.result(timeout=20) == "released"
    assert job.result(timeout=20) == "real"
    assert r.lrange(key, 0, -1) == ["real"]
    # (its finished record keeps the token of its last dispatch first in "done")
    token = (r.hget(keys.job(job.id), "done") or "").split(" ")[0]
    assert len(token) == 20  # 80 bits, in hex


def test_no_token_tells_another(tapp, keys, r, uid):
    # Given jobs dispatched by one producer call (tokens made in Python), and jobs of a
    # queue admitted by one Lua call when its limit is raised (tokens made in Lua), all
    # routed to a Celery queue no worker consumes (so they keep their tokens)
    idle = f"idle-{uid}"
    bulk = tapp.actions.enqueue_many(tapp.add, [{"a": i} for i in range(4)], celery_queue=idle)
    queue = f"tok-{uid}"
    held = [tapp.actions.enqueue(tapp.add, {"a": i}, queue={"name": queue, "maxConcurrency": 1},
                                 celery_queue=idle) for i in range(4)]  # fmt: skip
    raised = {"name": queue, "maxConcurrency": 5}
    last = tapp.actions.enqueue(tapp.add, {"a": 9}, queue=raised, celery_queue=idle)
    handles = [*bulk, *held, last]
    tokens = [r.hget(keys.job(h.id), "token") for h in handles]
    # Then each is 80 bits and no two share even an 8-character prefix (a nonce and a
    # counter would share all but the last characters)
    assert all(t and len(t) == 20 for t in tokens), tokens
    assert len({t[:8] for t in tokens}) == len(tokens), tokens
    for h in handles:
        h.cancel()


def test_dead_workers_are_pruned(tapp, keys, start_worker, r):
    # Given a worker that stopped heartbeating ten minutes ago
    r.zadd(keys.workers, {"ghost@dead": int(time.time() * 1000) - 600_000})
    # When a live worker heartbeats
    start_worker("tests.app", env=FAST)
    # Then the dead one is no longer listed
    wait_for(lambda: r.zscore(keys.workers, "ghost@dead") is None, what="the ghost pruned")
