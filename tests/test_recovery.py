"""Nothing is lost and nothing runs twice: killed workers, broker redeliveries."""

from __future__ import annotations

import re
import signal
from datetime import UTC, datetime, timedelta

import pytest

from celery_actions import ActionStatus, WorkerLost
from celery_actions.redis.records import JobSpec, NewJob
from celery_actions.testing import wait_for

FAST_LEASE = {"ACTIONS_LEASE_TIMEOUT": "2", "ACTIONS_PUMP_INTERVAL": "0.2"}


def test_sigkilled_workers_action_completes_on_another_worker(tapp, start_worker, r, keys, uid):
    # Given an action running on worker A
    key = f"starts-{uid}"
    a = start_worker("tests.app", env=FAST_LEASE, concurrency=2)
    h = tapp.actions.enqueue(tapp.slow, {"key": key, "seconds": 2}, {"retries": 0})
    wait_for(lambda: h.status() is ActionStatus.RUNNING, what="the action to start on A")
    assert h.info().worker.startswith(a.name)
    start_worker("tests.app", env=FAST_LEASE, concurrency=2)
    # When A is killed with SIGKILL mid-action
    a.kill(signal.SIGKILL)
    # Then the action runs again on B and completes, with no manual step
    assert h.result(timeout=30) == "done"
    info = h.info()
    assert info.status is ActionStatus.COMPLETE
    assert not info.worker.startswith(a.name)
    assert r.llen(key) == 2
    # A lost worker is not a failed attempt: no retry was spent (retries=0)
    assert info.failures == 0
    # And its lease is gone
    assert r.zscore(keys.leases, h.id) is None


def test_long_action_past_a_tiny_visibility_timeout_runs_once(tapp, start_worker, broker, r,
                                                              uid):  # fmt: skip
    # Given a 1 s broker visibility timeout (the message is restored while still running)
    env = {"VISIBILITY_TIMEOUT": "1"}
    workers = [start_worker("tests.app", env=env, concurrency=2) for _ in range(2)]
    key = f"starts-{uid}"
    # When an action runs for 3 s
    h = tapp.actions.enqueue(tapp.slow, {"key": key, "seconds": 3})
    assert h.result(timeout=30) == "done"
    # Then once the broker has nothing left in flight, it ran exactly once
    wait_for(lambda: not broker.holds(h.id), what="its messages to drain")
    assert r.llen(key) == 1
    # And the broker did deliver it more than once (the scenario really happened)
    received = sum(w.output().count(f"[{h.id}] received") for w in workers)
    assert received >= 2


def test_schedule_past_a_tiny_visibility_timeout_runs_once(tapp, start_worker, broker, r, uid):
    # Given a 1 s broker visibility timeout, and an action scheduled 3 s ahead
    env = {"VISIBILITY_TIMEOUT": "1"}
    start_worker("tests.app", env=env, concurrency=2)
    start_worker("tests.app", env=env, concurrency=2)
    key = f"starts-{uid}"
    start_at = datetime.now(UTC) + timedelta(seconds=3)
    h = tapp.actions.enqueue(tapp.slow, {"key": key, "seconds": 0}, start_at=start_at)
    # When it has run
    assert h.result(timeout=30) == "done"
    # Then once the broker has nothing left in flight, it ran exactly once, not early
    wait_for(lambda: not broker.holds(h.id), what="its messages to drain")
    starts = [int(x) for x in r.lrange(key, 0, -1)]
    assert len(starts) == 1
    assert starts[0] >= int(start_at.timestamp() * 1000)


def test_a_lost_publish_is_sent_again_by_the_pump(tapp, start_worker, r, keys, uid):
    # Given a job recorded but whose message never reached the broker (publisher crashed)
    writer = tapp.actions.runtime.writer
    retry = '{"retry":{"n":0,"i":1000,"m":null,"f":2,"r":false,"d":1000}}'
    job = NewJob(f"orphan-{uid}", JobSpec("tests.app.add", retry, "default"), '{"a":3,"b":4}')
    enqueued = writer.enqueue([job], "error")
    assert enqueued.outcomes == ["dispatched"] and enqueued.dispatch.rows  # never published
    r.zadd(keys.scheduled, {job.id: 0})  # let the outbox reservation lapse at once
    # When a worker's pump runs
    start_worker("tests.app", env=FAST_LEASE)
    # Then the job is dispatched again and completes
    assert tapp.actions.handle(tapp.add, job.id).result(timeout=20) == 7


def test_poison_message_that_kills_its_worker_fails_after_max_lost(tapp, start_worker, r, keys,
                                                                   uid):  # fmt: skip
    # Given an action whose lease keeps expiring (simulated: the record says it ran 3 times)
    h = tapp.actions.enqueue(tapp.add, {"a": 1}, {"startAt": "2099-01-01T00:00Z"})
    r.hset(keys.job(h.id), mapping={"status": "running", "lost": 3})
    r.zrem(keys.scheduled, h.id)
    r.zadd(keys.leases, {h.id: 0})
    # When a pump reclaims it a 4th time
    start_worker("tests.app", env=FAST_LEASE)
    # Then it fails with WorkerLost instead of looping
    wait_for(lambda: h.status() is ActionStatus.FAILED, what="failed")
    with pytest.raises(WorkerLost, match=re.escape(h.id)):
        h.result(timeout=10)


def test_a_due_scheduled_action_is_dispatched_once(tapp, broker, r, keys, uid):
    # Given a scheduled action on the fast path (its envelope kept in the record), due soon,
    # on a Celery queue no worker consumes
    queue = f"once-{uid}"
    due = datetime.now(UTC) + timedelta(milliseconds=300)
    handle = tapp.actions.enqueue(tapp.add, {"a": 1}, start_at=due, celery_queue=queue)
    assert handle.status() is ActionStatus.SCHEDULED
    wait_for(lambda: datetime.now(UTC) > due + timedelta(milliseconds=5), what="the due time")
    # When pump passes run after it is due
    first, second = tapp.actions.runtime.store.pump(), tapp.actions.runtime.store.pump()
    # Then its stored envelope was pushed once, and nothing is left due or to publish
    assert not first.dispatch.rows and not second.dispatch.rows
    assert broker.queued(queue) == 1
    assert r.zscore(keys.scheduled, handle.id) is None
    assert r.hget(keys.job(handle.id), "dispatches") == "1"
    handle.cancel()
