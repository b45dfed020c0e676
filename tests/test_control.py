"""Celery's control tools on actions: revoke (with and without terminate), purge, and the
`celery actions list|cancel|retry` commands, with real workers and the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from celery_actions import ActionCancelled, ActionStatus
from celery_actions.testing import wait_for
from tests.helpers import AMQP_URL, rabbitmq_reachable

FAST = {"ACTIONS_PUMP_INTERVAL": "0.2"}


def celery(*args: str, redis_url: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run `celery -A tests.app <args>`, as an operator would."""
    return subprocess.run(
        [sys.executable, "-m", "celery", "-A", "tests.app", *args],
        env={**os.environ, "REDIS_URL": redis_url}, input=stdin, capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip


def test_control_revoke_cancels_a_scheduled_action_at_once(tapp, keys, start_worker, r, uid,
                                                           redis_url):  # fmt: skip
    # Given a worker and an action scheduled two seconds ahead
    start_worker("tests.app", env=FAST)
    key = f"revoked-{uid}"
    h = tapp.actions.enqueue(tapp.record, {"key": key, "value": "v"}, start_at=_in(2))
    # When an operator revokes it with Celery's own command
    done = celery("control", "revoke", h.id, redis_url=redis_url)
    assert done.returncode == 0, done.stderr
    # Then it is cancelled at once, its result says so, and it never runs when due
    wait_for(lambda: h.status() is ActionStatus.CANCELLED, what="the revoke")
    with pytest.raises(ActionCancelled):
        h.result(timeout=5)
    assert r.zscore(keys.scheduled, h.id) is None
    assert h.info().reason == "revoked"
    wait_for(lambda: time.time() > h.info().start_at.timestamp() + 1, timeout=10, what="due")
    assert r.llen(key) == 0


def test_revoking_an_action_that_waits_for_a_slot_frees_its_place(tapp, keys, start_worker,
                                                                  r, uid):  # fmt: skip
    # Given a limit-1 queue: a holder running, two actions waiting
    start_worker("tests.app", env=FAST)
    queue, release = {"name": f"rq-{uid}", "maxConcurrency": 1}, f"rel-{uid}"
    holder = tapp.actions.enqueue(tapp.hold, {"key": f"h-{uid}", "release": release}, queue=queue)
    wait_for(lambda: holder.status() is ActionStatus.RUNNING, what="the holder")
    revoked = tapp.actions.enqueue(tapp.add, {"a": 1}, queue=queue)
    kept = tapp.actions.enqueue(tapp.add, {"a": 2}, queue=queue)
    # When one waiter is revoked (AsyncResult.revoke, as Celery users do)
    tapp.app.AsyncResult(revoked.id).revoke()
    # Then it is cancelled and leaves the line at once; the other runs after the holder
    wait_for(lambda: revoked.status() is ActionStatus.CANCELLED, what="the revoke")
    assert r.zscore(keys.group_waiting(queue["name"]), revoked.id) is None
    r.set(release, 1)
    assert kept.result(timeout=20) == 2
    assert revoked.info().attempts == 0


def test_revoke_with_terminate_stops_a_running_action_and_frees_its_slot(
    tapp, keys, start_worker, r, uid
):
    # Given a prefork worker running an action of a limit-1 queue, and one waiting
    start_worker("tests.app", env=FAST, pool="prefork", concurrency=2)
    queue = {"name": f"term-{uid}", "maxConcurrency": 1}
    key = f"term-{uid}"
    running = tapp.actions.enqueue(tapp.hold, {"key": key, "release": f"never-{uid}"},
                                   queue=queue, retries=3)  # fmt: skip
    wait_for(lambda: running.status() is ActionStatus.RUNNING, what="running")
    waiter = tapp.actions.enqueue(tapp.add, {"a": 3}, queue=queue)
    # When it is revoked with terminate
    started = time.monotonic()
    tapp.app.control.revoke(running.id, terminate=True)
    # Then it is cancelled, and its slot goes to the waiter at once (no lease to wait out)
    assert waiter.result(timeout=20) == 3
    assert time.monotonic() - started < 10
    info = running.info()
    assert (info.status, info.reason, info.attempts) == (ActionStatus.CANCELLED, "terminated", 1)
    with pytest.raises(ActionCancelled):
        running.result(timeout=5)
    # And it never runs again: no second start, no lease, no slot
    assert r.lrange(key, 0, -1) == ["started"]
    assert r.zscore(keys.leases, running.id) is None
    assert r.zcard(keys.group_slots(queue["name"])) == 0


def test_revoking_a_running_action_keeps_it_from_retrying(tapp, module_worker, uid, r):
    # Given a running action with retries left that will fail
    release = f"rel-{uid}"
    h = tapp.actions.enqueue(tapp.hold_then_fail, {"key": f"k-{uid}", "release": release,
                                                   "message": "boom"}, retries=3)  # fmt: skip
    wait_for(lambda: h.status() is ActionStatus.RUNNING, what="running")
    # When it is revoked without terminate (a threads pool could not stop it anyway)
    tapp.app.control.revoke(h.id)
    wait_for(lambda: r.hget(f"actions:job:{h.id}", "cancel_requested") == "1", what="marked")
    r.set(release, 1)
    # Then its failure is not retried: it ends cancelled
    with pytest.raises(ActionCancelled):
        h.result(timeout=20)
    assert h.info().attempts == 1


def test_a_revoked_running_action_whose_worker_dies_never_runs_again(tapp, start_worker, r,
                                                                     uid):  # fmt: skip
    # Given a worker running an action with retries left, revoked without terminate
    worker = start_worker("tests.app", env={**FAST, "ACTIONS_LEASE_TIMEOUT": "2"})
    key = f"lost-revoked-{uid}"
    h = tapp.actions.enqueue(tapp.hold, {"key": key, "release": f"never-{uid}"}, retries=3)
    wait_for(lambda: h.status() is ActionStatus.RUNNING, what="running")
    tapp.app.control.revoke(h.id)
    wait_for(lambda: r.hget(f"actions:job:{h.id}", "cancel_requested") == "1", what="marked")
    # When its worker is killed and another takes over
    worker.kill()
    start_worker("tests.app", env={**FAST, "ACTIONS_LEASE_TIMEOUT": "2"})
    # Then once its lease lapses it is cancelled, not dispatched again
    wait_for(lambda: h.status() is ActionStatus.CANCELLED, timeout=30, what="cancelled")
    with pytest.raises(ActionCancelled):
        h.result(timeout=5)
    assert r.lrange(key, 0, -1) == ["started"]
    assert h.info().attempts == 1


def test_after_celery_purge_no_action_stays_waiting(tapp, keys, start_worker, broker, r, uid,
                                                    redis_url):  # fmt: skip
    # Given actions dispatched to a Celery queue no worker consumes yet
    queue = f"purge-{uid}"
    handles = [tapp.actions.enqueue(tapp.record, {"key": f"p-{uid}", "value": str(i)},
                                    celery_queue=queue) for i in range(3)]  # fmt: skip
    assert broker.queued(queue) == 3
    # When an operator purges it (`celery purge`, a Redis broker)
    done = celery("purge", "-f", "-Q", queue, redis_url=redis_url)
    assert done.returncode == 0, done.stderr
    assert broker.queued(queue) == 0
    for h in handles:  # and their dispatch timeout (actions_dispatch_timeout) has passed
        r.zadd(keys.leases, {h.id: 0})
    # Then a worker finds their messages gone and dispatches them again, each running once
    started = time.monotonic()
    start_worker("tests.app", env={**FAST, "ACTIONS_DISPATCH_TIMEOUT": "1"}, args=("-Q", queue))
    for h in handles:
        h.result(timeout=30)
    recovery = time.monotonic() - started
    assert recovery < 5, recovery  # a worker start and a pump pass or two
    assert sorted(r.lrange(f"p-{uid}", 0, -1)) == ["0", "1", "2"]
    assert all(r.hget(keys.job(h.id), "dispatches") == "2" for h in handles)


def test_the_cancel_command_counts_first_then_cancels(tapp, keys, r, uid, redis_url):
    # Given three scheduled actions of one queue and one of another
    queue = f"cq-{uid}"
    later = _in(3600)
    mine = [tapp.actions.enqueue(tapp.add, {"a": i}, queue=queue, start_at=later)
            for i in range(3)]  # fmt: skip
    other = tapp.actions.enqueue(tapp.add, {"a": 9}, queue=f"other-{uid}", start_at=later)
    # When the operator answers no, nothing changes
    refused = celery("actions", "cancel", "--queue", queue, redis_url=redis_url, stdin="n\n")
    assert "3 action(s) to cancel: 3 scheduled" in refused.stdout, refused.stderr
    assert all(h.status() is ActionStatus.SCHEDULED for h in mine)
    # When confirmed, they are cancelled, and the other queue's is not
    done = celery("actions", "cancel", "--queue", queue, "--yes", redis_url=redis_url)
    assert "cancelled 3" in done.stdout, done.stderr
    assert all(h.status() is ActionStatus.CANCELLED for h in mine)
    assert other.status() is ActionStatus.SCHEDULED
    # And `actions list` shows what is left
    listed = celery("actions", "list", "--status", "scheduled", "--json", redis_url=redis_url)
    found = [json.loads(line) for line in listed.stdout.splitlines()]
    assert other.id in {row["id"] for row in found}
    assert not {h.id for h in mine} & {row["id"] for row in found}
    assert {row["queue"] for row in found if row["id"] == other.id} == {f"other-{uid}"}
    one = celery("actions", "cancel", other.id, "--yes", redis_url=redis_url)
    assert "cancelled 1" in one.stdout and other.status() is ActionStatus.CANCELLED


def test_the_retry_command_runs_a_failed_action_again(tapp, module_worker, r, keys, uid, redis_url):
    # Given an action that failed for good (no retries, its first attempt fails)
    key = f"again-{uid}"
    h = tapp.actions.enqueue(tapp.fail_times, {"key": key, "times": 1}, retries=0)
    with pytest.raises(ValueError, match="attempt 1 fails"):
        h.result(timeout=20)
    # When an operator runs it again
    failed = celery("actions", "list", "--status", "failed", "--json", redis_url=redis_url)
    assert h.id in failed.stdout
    done = celery("actions", "retry", h.id, redis_url=redis_url)
    assert done.returncode == 0 and "runs again" in done.stdout, done.stderr
    # Then it runs once more and its new outcome is its result
    assert h.result(timeout=20) == 2
    info = h.info()
    assert (info.status, info.attempts, info.failures) == (ActionStatus.COMPLETE, 2, 0)
    # and the indexes moved with it: listed as complete, no longer as failed
    failed = celery("actions", "list", "--status", "failed", "--json", redis_url=redis_url)
    assert h.id not in failed.stdout
    complete = celery("actions", "list", "--status", "complete", "--json", redis_url=redis_url)
    assert h.id in complete.stdout
    assert h.id in r.zrange(keys.status_index("complete"), 0, -1)
    assert h.id not in r.zrange(keys.status_index("failed"), 0, -1)
    refused = celery("actions", "retry", h.id, redis_url=redis_url)
    assert refused.returncode != 0 and "only a failed or cancelled" in refused.stderr


def test_cancel_filters_by_status_and_action_together(tapp, r, uid, redis_url):
    # Given one queue holding a waiting action and two scheduled ones (on a Celery queue no
    # worker consumes, so the waiting one stays waiting)
    queue = {"name": f"cs-{uid}", "maxConcurrency": 1}
    idle = f"idle-{uid}"
    now = tapp.actions.enqueue(tapp.add, {"a": 1}, queue=queue, celery_queue=idle)
    later = [tapp.actions.enqueue(tapp.add, {"a": i}, queue=queue, start_at=_in(3600),
                                  celery_queue=idle) for i in range(2)]  # fmt: skip
    # When the operator cancels only the scheduled ones of that action and queue
    done = celery("actions", "cancel", "--queue", queue["name"], "--action", "tests.app.add",
                  "--status", "scheduled", "--yes", redis_url=redis_url)  # fmt: skip
    # Then those two are cancelled and the waiting one is left
    assert done.returncode == 0, done.stderr
    assert "2 action(s) to cancel: 2 scheduled" in done.stdout
    assert all(h.status() is ActionStatus.CANCELLED for h in later)
    assert now.status() is ActionStatus.WAITING
    # And a status that cannot be cancelled is refused by name
    bad = celery("actions", "cancel", "--status", "complete", "--yes", redis_url=redis_url)
    assert bad.returncode != 0 and "'complete' is not one of" in bad.stderr
    now.cancel()


def _in(seconds: float) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


@pytest.mark.skipif(not rabbitmq_reachable(), reason="RabbitMQ is not running on 127.0.0.1:5672")
def test_after_a_purge_on_rabbitmq_no_action_stays_waiting(redis_url, start_worker, r, uid):
    import importlib

    from celery_actions.celery.probe import BrokerProbe
    from celery_actions.redis.records import Suspect

    # Given an app on RabbitMQ and actions published while no worker runs
    queue = f"ca-purge-{uid}"
    env = {"AMQP_URL": AMQP_URL, "AMQP_QUEUE": queue, "REDIS_URL": redis_url}
    os.environ.update(env)
    amqp = importlib.import_module("tests.app_amqp")
    amqp.app.conf.task_default_queue = queue
    runtime = amqp.actions.runtime
    key = f"amqp-purge-{uid}"
    handles = [amqp.actions.enqueue(amqp.record, {"key": key, "value": str(i)}) for i in range(3)]
    suspects = [Suspect(h.id, "", amqp.record.name, "default", "") for h in handles]
    probe = BrokerProbe(amqp.app, runtime.priorities, runtime.settings.dispatch_timeout_s)
    try:
        with amqp.app.connection() as conn:
            channel = conn.default_channel
            wait_for(lambda: channel.queue_declare(queue, passive=True).message_count == 3,
                     what="the messages in RabbitMQ")  # fmt: skip
            # Then while their queue holds them, none is taken for lost
            assert probe.missing(suspects) == []
            # When the queue is purged
            channel.queue_purge(queue)
        # Then all three are missing, and a worker dispatches them again, each runs once
        assert probe.missing(suspects) == suspects
        for h in handles:  # their dispatch timeout has passed
            r.zadd(runtime.store.keys.leases, {h.id: 0})
        start_worker("tests.app_amqp", env={**env, **FAST}, key_prefix=runtime.store.keys.prefix)
        for h in handles:
            h.result(timeout=30)
        assert sorted(r.lrange(key, 0, -1)) == ["0", "1", "2"]
        assert all(r.hget(runtime.store.keys.job(h.id), "dispatches") == "2" for h in handles)
    finally:
        with amqp.app.connection() as conn:
            conn.default_channel.queue_delete(queue)
