"""The core on a real worker: enqueue, handles, retries, schedules, ids, cancel."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from celery_actions import (
    ActionCancelled,
    ActionNotFound,
    ActionStatus,
    ActionTimeout,
    DuplicateActionId,
)
from celery_actions.testing import wait_for


def attempt_times(r, key):
    return [int(x) for x in r.lrange(key, 0, -1)]


def test_result_and_status_of_a_simple_action(tapp, module_worker):
    h = tapp.actions.enqueue(tapp.add, {"a": 2, "b": 3})
    assert h.result(timeout=20) == 5
    info = h.info()
    assert info.status is ActionStatus.COMPLETE
    assert (info.attempts, info.failures, info.params) == (1, 0, {"a": 2, "b": 3})
    assert info.started_at and info.finished_at and info.finished_at >= info.started_at


def test_python_spelling_and_gadget_spelling(tapp, module_worker, uid):
    a = tapp.actions.enqueue(tapp.add, {"a": 1}, {"priority": "high", "id": f"g-{uid}"})
    b = tapp.actions.enqueue(tapp.add, {"a": 2}, priority="low", id=f"p-{uid}")
    assert (a.id, b.id) == (f"g-{uid}", f"p-{uid}")
    assert (a.result(timeout=20), b.result(timeout=20)) == (1, 2)
    assert (a.info().priority, b.info().priority) == ("high", "low")


def test_final_error_is_raised_with_its_type_and_message(tapp, module_worker):
    h = tapp.actions.enqueue(tapp.always_fail, {"message": "card declined"})
    with pytest.raises(tapp.CustomError, match="card declined"):
        h.result(timeout=20)
    info = h.info()
    assert info.status is ActionStatus.FAILED
    assert info.error == "CustomError: card declined"
    assert info.error_type == "tests.app.CustomError"


def test_retry_schedule_is_never_earlier_than_the_policy(tapp, module_worker, r, uid):
    # Given an action that fails three times, with 200/400/800 ms delays
    key = f"attempts-{uid}"
    policy = {"retryCount": 3, "initialInterval": 200, "backoffFactor": 2}
    h = tapp.actions.enqueue(tapp.fail_times, {"key": key, "times": 3}, {"retries": policy})
    # When it finally succeeds
    assert h.result(timeout=30) == 4
    # Then each attempt started no earlier than the policy allows
    t = attempt_times(r, key)
    assert len(t) == 4
    assert [b - a >= d for a, b, d in zip(t, t[1:], [200, 400, 800], strict=False)] == [True] * 3
    info = h.info()
    assert (info.attempts, info.failures, info.status) == (4, 3, ActionStatus.COMPLETE)


def test_retries_exhausted_raise_the_last_error(tapp, module_worker, r, uid):
    # Given an action that always fails, with one retry
    key = f"attempts-{uid}"
    h = tapp.actions.enqueue(
        tapp.fail_times, {"key": key, "times": 5}, {"retries": {"retryCount": 1,
                                                                 "initialInterval": 50}}
    )  # fmt: skip
    # Then its result raises the last attempt's error, after exactly two attempts
    with pytest.raises(ValueError, match="attempt 2 fails"):
        h.result(timeout=20)
    assert r.llen(key) == 2
    assert h.status() is ActionStatus.FAILED


def test_retries_zero_means_one_attempt(tapp, module_worker, r, uid):
    # Given an action that fails once, with retries=0
    key = f"attempts-{uid}"
    h = tapp.actions.enqueue(tapp.fail_times, {"key": key, "times": 1}, retries=0)
    # Then it fails after its single attempt
    with pytest.raises(ValueError, match="attempt 1 fails"):
        h.result(timeout=20)
    assert r.llen(key) == 1


def test_retry_for_closes_the_retry_window(tapp, module_worker, r, uid):
    # Given 10 retries but a 700 ms window: retry 1 (due +500 ms) fits, retry 2 (+1000) not
    key = f"attempts-{uid}"
    h = tapp.actions.enqueue(
        tapp.fail_times,
        {"key": key, "times": 10},
        {"retries": {"retryCount": 10, "initialInterval": 500}, "retryFor": 700},
    )
    # Then it fails after two attempts
    with pytest.raises(ValueError, match="attempt 2 fails"):
        h.result(timeout=20)
    assert r.llen(key) == 2


def test_status_is_retrying_during_the_delay(tapp, module_worker, uid):
    # Given an action that fails once, then waits 3 s to retry
    h = tapp.actions.enqueue(
        tapp.fail_times,
        {"key": f"attempts-{uid}", "times": 1},
        {"retries": {"retryCount": 1, "initialInterval": 3000}},
    )
    # When its first attempt has failed
    info = wait_for(lambda: (i := h.info()).status is ActionStatus.RETRYING and i, what="retrying")
    # Then its info says it is retrying, why, and when the next attempt is due
    assert info.failures == 1
    assert info.reason == "attempt 1 failed with builtins.ValueError; retry 1 of 1 in 3000 ms"
    assert info.next_attempt_at is not None and info.next_attempt_at > info.started_at
    assert h.result(timeout=20) == 2


def test_start_at_is_respected(tapp, module_worker, r, uid):
    # Given an action enqueued to start in 1.5 s
    key = f"starts-{uid}"
    start_at = datetime.now(UTC) + timedelta(seconds=1.5)
    iso = start_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    h = tapp.actions.enqueue(tapp.slow, {"key": key, "seconds": 0}, {"startAt": iso})
    # Then it is scheduled for that instant (to the millisecond), and starts no earlier
    assert h.status() is ActionStatus.SCHEDULED
    assert h.info().start_at == start_at.replace(microsecond=start_at.microsecond // 1000 * 1000)
    assert h.result(timeout=20) == "done"
    assert attempt_times(r, key)[0] >= int(start_at.timestamp() * 1000)


def test_start_at_in_the_past_runs_now(tapp, module_worker):
    h = tapp.actions.enqueue(tapp.add, {"a": 7}, start_at=datetime(2020, 1, 1, tzinfo=UTC))
    assert h.result(timeout=20) == 7


def test_unknown_id_raises_instead_of_pending(tapp, module_worker):
    # Given a handle on an id nobody enqueued, then its status and result raise
    h = tapp.actions.handle(tapp.add, "no-such-action")
    with pytest.raises(ActionNotFound):
        h.status()
    with pytest.raises(ActionNotFound):
        h.result(timeout=1)
    # A known id under another action is not found either
    known = tapp.actions.enqueue(tapp.add, {"a": 1})
    known.result(timeout=20)
    with pytest.raises(ActionNotFound):
        tapp.actions.handle(tapp.record, known.id).status()


def test_handle_from_a_known_id(tapp, module_worker, uid):
    tapp.actions.enqueue(tapp.add, {"a": 40, "b": 2}, id=f"known-{uid}")
    assert tapp.actions.handle(tapp.add, f"known-{uid}").result(timeout=20) == 42
    assert tapp.actions.handle("tests.app.add", f"known-{uid}").status() == "complete"


def test_duplicate_ids(tapp, module_worker, r, uid):
    # Given an action enqueued with an id
    key = f"runs-{uid}"
    first = tapp.actions.enqueue(tapp.record, {"key": key, "value": "1"}, {"id": f"dup-{uid}"})
    # When the id is enqueued again: an error by default, the first handle with "ignore"
    with pytest.raises(DuplicateActionId, match=f"dup-{uid}"):
        tapp.actions.enqueue(tapp.record, {"key": key, "value": "2"}, {"id": f"dup-{uid}"})
    again = tapp.actions.enqueue(
        tapp.record, {"key": key, "value": "3"}, {"id": f"dup-{uid}", "onDuplicateID": "ignore"}
    )
    assert again == first
    # Then only the first one ran
    assert first.result(timeout=20) == "1"
    assert r.lrange(key, 0, -1) == ["1"]


def test_result_timeout(tapp, module_worker, uid):
    # Given an action that runs until it is released
    h = tapp.actions.enqueue(
        tapp.hold, {"key": f"k-{uid}", "release": f"rel-{uid}"}, {"id": f"hold-{uid}"}
    )
    # When its result is awaited for less time than it runs, then that raises ActionTimeout
    with pytest.raises(ActionTimeout):
        h.result(timeout=0.3)
    # And the action carries on: released, its result arrives
    tapp.r.set(f"rel-{uid}", 1)
    assert h.result(timeout=20) == "released"


def test_cancel_a_scheduled_action(tapp, module_worker, r, keys, uid):
    # Given an action scheduled far ahead
    key = f"runs-{uid}"
    h = tapp.actions.enqueue(
        tapp.record, {"key": key, "value": "x"}, {"startAt": "2099-01-01T00:00Z"}
    )
    # When it is cancelled, then it is cancelled once, and leaves the schedule
    assert h.cancel() is True
    assert h.status() is ActionStatus.CANCELLED
    with pytest.raises(ActionCancelled):
        h.result(timeout=5)
    assert h.cancel() is False  # already finished
    assert r.zscore(keys.scheduled, h.id) is None


def test_cancel_a_waiting_action_drops_its_message(tapp, start_worker, broker, r, uid):
    # Given an action whose message waits in a Celery queue nobody consumes yet
    key = f"runs-{uid}"
    queue = f"later-{uid}"
    h = tapp.actions.enqueue(tapp.record, {"key": key, "value": "x"}, celery_queue=queue)
    assert h.status() is ActionStatus.WAITING
    assert broker.queued(queue) == 1
    # When it is cancelled and a worker then consumes that queue
    assert h.cancel() is True
    worker = start_worker("tests.app", args=("-Q", queue))
    # Then the worker received the stale message and dropped it (Celery's Ignore), the
    # broker has it no more, and the action never ran
    wait_for(lambda: f"tests.app.record[{h.id}] ignored" in worker.output(), what="dropped")
    wait_for(lambda: not broker.holds(h.id, queue), what="the message to be acknowledged")
    assert r.lrange(key, 0, -1) == []
    assert h.status() is ActionStatus.CANCELLED


def test_cancel_a_running_action_stops_its_retries(tapp, module_worker, r, uid):
    # Given two running actions with retries left: one will succeed, one will fail
    release = f"rel-{uid}"
    ok = tapp.actions.enqueue(tapp.hold, {"key": f"k-{uid}", "release": release}, retries=3)
    bad = tapp.actions.enqueue(
        tapp.hold_then_fail, {"key": f"f-{uid}", "release": release, "message": "late"},
        retries=3,
    )  # fmt: skip
    wait_for(lambda: ok.status() is bad.status() is ActionStatus.RUNNING, what="running")
    # When both are cancelled while they run: cancel says they were not stopped
    assert ok.cancel() is False
    assert bad.cancel() is False
    r.set(release, 1)
    # Then the one that succeeds keeps its result
    assert ok.result(timeout=20) == "released"
    assert ok.status() is ActionStatus.COMPLETE
    # And the one that fails is not retried: it ends cancelled after its one attempt
    wait_for(lambda: bad.status() is ActionStatus.CANCELLED, what="cancelled")
    with pytest.raises(ActionCancelled):
        bad.result(timeout=5)
    assert bad.info().attempts == 1
    assert r.lrange(f"f-{uid}", 0, -1) == ["started"]


def test_result_async(tapp, module_worker):
    async def main():
        ok = tapp.actions.enqueue(tapp.add, {"a": 20, "b": 1})
        bad = tapp.actions.enqueue(tapp.always_fail, {"message": "async boom"})
        value = await ok.result_async(timeout=20)
        with pytest.raises(tapp.CustomError, match="async boom"):
            await bad.result_async(timeout=20)
        return value

    assert asyncio.run(main()) == 21


def test_direct_call_runs_in_process_and_delay_enqueues(tapp, module_worker):
    assert tapp.add(2, 2) == 4  # a plain call, as with any Celery task
    async_result = tapp.add.delay(a=5, b=5)
    assert async_result.get(timeout=20) == 10
    assert tapp.actions.handle(tapp.add, async_result.id).status() is ActionStatus.COMPLETE


def test_actions_are_registered_celery_tasks(tapp, module_worker):
    assert "tests.app.add" in tapp.app.tasks
    assert "tests.custom_name" in tapp.app.tasks
    registered = tapp.app.control.inspect(timeout=5).registered() or {}
    names = {n.split()[0] for tasks in registered.values() for n in tasks}
    assert {"tests.app.add", "tests.custom_name"} <= names
    assert tapp.actions.enqueue(tapp.named, {"x": "a"}).result(timeout=20) == "A"


def test_stale_message_is_ignored_not_stored(tapp, module_worker, broker, r, uid):
    # Given a completed action
    h = tapp.actions.enqueue(tapp.record, {"key": f"runs-{uid}", "value": "v"})
    assert h.result(timeout=20) == "v"
    before = h.info()
    # When a stale copy of its message arrives (token 1 is no longer waiting)
    tapp.app.send_task(
        "tests.app.record", kwargs={"key": f"runs-{uid}", "value": "dup"}, task_id=h.id,
        headers={"actions_token": "1"},
    )  # fmt: skip
    # Then the worker dropped it with Celery's Ignore, and the broker holds it no more
    wait_for(
        lambda: f"tests.app.record[{h.id}] ignored" in module_worker.output(),
        what="the stale message to be dropped",
    )
    wait_for(lambda: not broker.holds(h.id), what="the stale message to be acknowledged")
    # And it did not run, and stored nothing: the record and the result are unchanged
    assert r.lrange(f"runs-{uid}", 0, -1) == ["v"]
    assert h.info() == before
    assert (before.status, before.attempts) == (ActionStatus.COMPLETE, 1)
    meta = tapp.app.backend.get_task_meta(h.id)
    assert (meta["status"], meta["result"]) == ("SUCCESS", "v")
    assert h.result(timeout=5) == "v"


def test_celery_events_are_on_for_flower(tapp):
    assert tapp.app.conf.worker_send_task_events is True
    assert tapp.app.conf.task_send_sent_event is True
