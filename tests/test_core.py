"""The core on a real worker: enqueue, handles, retries, schedules, ids, cancel."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from celery.exceptions import Ignore

from celery_actions import (
    ActionCancelled,
    ActionNotFound,
    ActionStatus,
    ActionTimeout,
    DuplicateActionId,
)
from celery_actions.testing import wait_for


def queue_length(r, queue):
    """Messages in a Celery queue on Redis, across its priority lists."""
    return sum(r.llen(name) for name in [queue] + [f"{queue}\x06\x16{p}" for p in (3, 6, 9)])


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
    key = f"attempts-{uid}"
    h = tapp.actions.enqueue(
        tapp.fail_times, {"key": key, "times": 5}, {"retries": {"retryCount": 1,
                                                                 "initialInterval": 50}}
    )  # fmt: skip
    with pytest.raises(ValueError, match="attempt 2 fails"):
        h.result(timeout=20)
    assert r.llen(key) == 2
    assert h.status() is ActionStatus.FAILED


def test_retries_zero_means_one_attempt(tapp, module_worker, r, uid):
    key = f"attempts-{uid}"
    h = tapp.actions.enqueue(tapp.fail_times, {"key": key, "times": 1}, retries=0)
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
    with pytest.raises(ValueError, match="attempt 2 fails"):
        h.result(timeout=20)
    assert r.llen(key) == 2


def test_status_is_retrying_during_the_delay(tapp, module_worker, uid):
    h = tapp.actions.enqueue(
        tapp.fail_times,
        {"key": f"attempts-{uid}", "times": 1},
        {"retries": {"retryCount": 1, "initialInterval": 3000}},
    )
    info = wait_for(lambda: (i := h.info()).status is ActionStatus.RETRYING and i, what="retrying")
    assert info.failures == 1
    assert info.reason == "attempt 1 failed with builtins.ValueError; retry 1 of 1 in 3000 ms"
    assert info.next_attempt_at is not None and info.next_attempt_at > info.started_at
    assert h.result(timeout=20) == 2


def test_start_at_is_respected(tapp, module_worker, r, uid):
    key = f"starts-{uid}"
    start_at = datetime.now(UTC) + timedelta(seconds=1.5)
    iso = start_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    h = tapp.actions.enqueue(tapp.slow, {"key": key, "seconds": 0}, {"startAt": iso})
    assert h.status() is ActionStatus.SCHEDULED
    assert h.info().start_at == start_at.replace(microsecond=start_at.microsecond // 1000 * 1000)
    assert h.result(timeout=20) == "done"
    assert attempt_times(r, key)[0] >= int(start_at.timestamp() * 1000)


def test_start_at_in_the_past_runs_now(tapp, module_worker):
    h = tapp.actions.enqueue(tapp.add, {"a": 7}, start_at=datetime(2020, 1, 1, tzinfo=UTC))
    assert h.result(timeout=20) == 7


def test_unknown_id_raises_instead_of_pending(tapp, module_worker):
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
    key = f"runs-{uid}"
    first = tapp.actions.enqueue(tapp.record, {"key": key, "value": "1"}, {"id": f"dup-{uid}"})
    with pytest.raises(DuplicateActionId, match=f"dup-{uid}"):
        tapp.actions.enqueue(tapp.record, {"key": key, "value": "2"}, {"id": f"dup-{uid}"})
    again = tapp.actions.enqueue(
        tapp.record, {"key": key, "value": "3"}, {"id": f"dup-{uid}", "onDuplicateID": "ignore"}
    )
    assert again == first
    assert first.result(timeout=20) == "1"
    assert r.lrange(key, 0, -1) == ["1"]


def test_result_timeout(tapp, module_worker, uid):
    h = tapp.actions.enqueue(
        tapp.hold, {"key": f"k-{uid}", "release": f"rel-{uid}"}, {"id": f"hold-{uid}"}
    )
    with pytest.raises(ActionTimeout):
        h.result(timeout=0.3)
    tapp.r.set(f"rel-{uid}", 1)
    assert h.result(timeout=20) == "released"


def test_cancel_a_scheduled_action(tapp, module_worker, r, uid):
    key = f"runs-{uid}"
    h = tapp.actions.enqueue(
        tapp.record, {"key": key, "value": "x"}, {"startAt": "2099-01-01T00:00Z"}
    )
    assert h.cancel() is True
    assert h.status() is ActionStatus.CANCELLED
    with pytest.raises(ActionCancelled):
        h.result(timeout=5)
    assert h.cancel() is False  # already finished
    assert r.zscore("actions:scheduled", h.id) is None


def test_cancel_a_waiting_action_drops_its_message(tapp, start_worker, r, uid):
    # Given an action whose message waits in a Celery queue nobody consumes yet
    key = f"runs-{uid}"
    queue = f"later-{uid}"
    h = tapp.actions.enqueue(tapp.record, {"key": key, "value": "x"}, celery_queue=queue)
    assert h.status() is ActionStatus.WAITING
    assert queue_length(r, queue) == 1
    # When it is cancelled and a worker then consumes that queue
    assert h.cancel() is True
    start_worker("tests.app", args=("-Q", queue))
    wait_for(lambda: queue_length(r, queue) == 0, what="the message to be consumed")
    wait_for(
        lambda: not any(h.id in entry for entry in r.hvals("unacked")),
        what="the message to be acknowledged",
    )
    # Then the stale message was dropped: the action never ran
    assert r.lrange(key, 0, -1) == []
    assert h.status() is ActionStatus.CANCELLED


def test_cancel_a_running_action_stops_its_retries(tapp, module_worker, r, uid):
    h = tapp.actions.enqueue(tapp.hold, {"key": f"k-{uid}", "release": f"rel-{uid}"}, retries=3)
    wait_for(lambda: h.status() is ActionStatus.RUNNING, what="running")
    assert h.cancel() is False
    r.set(f"rel-{uid}", 1)
    assert h.result(timeout=20) == "released"


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


def test_stale_message_is_ignored_not_stored(tapp, module_worker, r, uid):
    # Given a completed action
    h = tapp.actions.enqueue(tapp.record, {"key": f"runs-{uid}", "value": "v"})
    assert h.result(timeout=20) == "v"
    # When a stale copy of its message arrives (token 1 is no longer waiting)
    tapp.app.send_task(
        "tests.app.record", kwargs={"key": f"runs-{uid}", "value": "dup"}, task_id=h.id,
        headers={"actions_token": "1"},
    )  # fmt: skip
    done = tapp.actions.enqueue(tapp.add, {"a": 1})
    assert done.result(timeout=20) == 1
    # Then it did not run and did not overwrite the result
    assert r.lrange(f"runs-{uid}", 0, -1) == ["v"]
    assert h.result(timeout=5) == "v"
    assert Ignore  # the worker dropped it with celery's Ignore


def test_celery_events_are_on_for_flower(tapp):
    assert tapp.app.conf.worker_send_task_events is True
    assert tapp.app.conf.task_send_sent_event is True
