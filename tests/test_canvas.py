"""Actions in Celery canvases (chain, group, chord, link, link_error), mixed with plain
tasks, and the options of apply_async and signatures, on a real worker."""

from __future__ import annotations

import json

import pytest
from celery import chain, chord, group
from celery.exceptions import ChordError

from celery_actions import (
    ActionCancelled,
    ActionNotFound,
    ActionStatus,
    InvalidOptions,
    InvalidParams,
)
from celery_actions.testing import wait_for


def test_a_chain_of_actions_passes_each_result_to_the_next_first_param(tapp, module_worker):
    # Given a chain of two actions
    flow = chain(tapp.double.s(x=2), tapp.double.s())
    # When it runs
    result = flow.apply_async()
    # Then the second got the first's result and the chain's result is the last one
    assert result.get(timeout=20) == 8
    first = tapp.actions.handle(tapp.double, result.parent.id)
    last = tapp.actions.handle(tapp.double, result.id)
    assert first.status() is ActionStatus.COMPLETE and last.status() is ActionStatus.COMPLETE
    assert last.info().params == {"x": 4}


def test_plain_tasks_and_actions_mix_in_a_chain(tapp, module_worker):
    # Given chains with a plain task before and after an action
    into_action = chain(tapp.plain_add.s(3), tapp.double.s()).apply_async()
    out_of_action = chain(tapp.double.s(x=1), tapp.plain_add.s(10)).apply_async()
    # Then each result flows on, and the plain task succeeded (not failed by the handoff)
    assert into_action.get(timeout=20) == 6
    assert into_action.parent.get(timeout=20) == 3
    assert out_of_action.get(timeout=20) == 12


def test_a_retry_is_not_a_failure_of_the_chain(tapp, module_worker, uid):
    # Given a chain whose first action fails once, then succeeds on its retry
    key = f"flaky-{uid}"
    result = chain(tapp.flaky.s(key=key, fails=1), tapp.double.s()).apply_async()
    # Then the chain moves on only after the retry: the next step gets its result
    assert result.get(timeout=20) == 4
    first = tapp.actions.handle(tapp.flaky, result.parent.id).info()
    assert (first.attempts, first.failures, first.status) == (2, 1, ActionStatus.COMPLETE)


def test_a_final_failure_stops_the_chain_and_runs_link_error_once(tapp, module_worker, r, uid):
    # Given a chain whose first action fails for good after a retry, with an error link
    key, errors = f"fail-{uid}", f"errors-{uid}"
    flow = chain(tapp.flaky.s(key=key, fails=5), tapp.double.s())
    result = flow.on_error(tapp.on_error.s(key=errors)).apply_async()
    # Then waiting on the chain raises the action's error, the next step never runs
    with pytest.raises(ValueError, match="attempt 3 fails"):
        result.get(timeout=20)
    failed_id = result.parent.id
    assert tapp.actions.handle(tapp.flaky, failed_id).status() is ActionStatus.FAILED
    assert r.llen(key) == 3  # retried twice first: the link ran for the final failure only
    # And the error link (an action) ran once, with the failed task's id first
    wait_for(lambda: r.lrange(errors, 0, -1), what="the error link")
    assert r.lrange(errors, 0, -1) == [failed_id]
    with pytest.raises(ActionNotFound):
        tapp.actions.handle(tapp.double, result.id).status()


def test_link_sends_the_result_to_a_plain_task(tapp, module_worker, r, uid):
    # Given an action with a plain task as its link
    key = f"link-{uid}"
    result = tapp.double.apply_async(kwargs={"x": 21}, link=tapp.plain_record.s(key=key))
    # Then the link gets the action's result once it completes
    assert result.get(timeout=20) == 42
    wait_for(lambda: r.lrange(key, 0, -1), what="the link")
    assert [json.loads(v) for v in r.lrange(key, 0, -1)] == [42]


def test_a_group_of_actions(tapp, module_worker):
    # Given a group of actions and a plain task
    result = group(tapp.double.s(x=i) for i in range(3)).apply_async()
    mixed = group(tapp.double.s(x=5), tapp.plain_add.s(1, 1)).apply_async()
    # Then each runs as its own action
    assert result.get(timeout=20) == [0, 2, 4]
    assert mixed.get(timeout=20) == [10, 2]
    for child in result.results:
        assert tapp.actions.handle(tapp.double, child.id).status() is ActionStatus.COMPLETE


@pytest.mark.parametrize("callback", ["action", "plain"])
def test_a_chord_of_actions_fires_its_callback(tapp, module_worker, r, uid, callback):
    # Given a chord of actions with an action or a plain callback
    key = f"chord-{uid}"
    body = tapp.total.s(key=key) if callback == "action" else tapp.plain_total.s()
    result = chord([tapp.double.s(x=i) for i in range(4)], body).apply_async()
    # Then the callback gets every header result, once all are done
    assert result.get(timeout=30) == 12
    if callback == "action":
        assert json.loads(r.lrange(key, 0, -1)[0]) == [0, 2, 4, 6]
        assert tapp.actions.handle(tapp.total, result.id).status() is ActionStatus.COMPLETE


def test_a_chord_of_plain_tasks_with_an_action_callback(tapp, module_worker, uid):
    result = chord([tapp.plain_add.s(i, i) for i in range(3)], tapp.total.s()).apply_async()
    assert result.get(timeout=30) == 6


def test_a_failing_chord_member_fails_the_chord(tapp, module_worker, uid):
    # Given a chord one of whose actions fails for good
    header = [tapp.double.s(x=1), tapp.always_fail.s(message=f"no-{uid}")]
    result = chord(header, tapp.total.s()).apply_async()
    # Then the chord fails as Celery fails it (waiting raises the member's error, or the
    # ChordError naming it once the callback is marked), and the callback never runs
    with pytest.raises((ChordError, tapp.CustomError), match=f"no-{uid}"):
        result.get(timeout=30)
    wait_for(lambda: result.state == "FAILURE", what="the chord failed")
    meta = tapp.app.backend.get_task_meta(result.id)
    assert isinstance(meta["result"], ChordError) and f"no-{uid}" in str(meta["result"])
    with pytest.raises(ActionNotFound):
        tapp.actions.handle(tapp.total, result.id).status()


def test_positional_args_map_onto_params_and_are_validated(tapp, module_worker):
    # Given positional calls of an action
    assert tapp.double.delay(5).get(timeout=20) == 10
    # Then too many, or one given twice, or of the wrong type, are refused at once
    with pytest.raises(InvalidParams, match="2 positional args"):
        tapp.double.apply_async((1, 2))
    with pytest.raises(InvalidParams, match="given twice"):
        tapp.double.apply_async((1,), {"x": 2})
    with pytest.raises(InvalidParams, match="'x'"):
        tapp.double.delay("not a number")


def test_apply_async_options_map_onto_the_action(tapp, module_worker, keys, r, uid):
    # Given an action enqueued with Celery's options
    result = tapp.request_info.apply_async(
        task_id=f"opts-{uid}", priority=0, headers={"tenant": "t-1"}, countdown=0.2
    )
    # Then the id, priority, startAt and headers are the action's
    info = result.get(timeout=20)
    assert result.id == f"opts-{uid}"
    assert info["headers"] == {"tenant": "t-1"}
    record = r.hgetall(keys.job(result.id))
    assert record["priority"] == "high"  # 0 is Redis's highest
    assert int(record["start_at"]) > int(record["created_at"])
    # And the same task_id again returns the same action instead of running it twice
    again = tapp.request_info.apply_async(task_id=f"opts-{uid}")
    assert again.id == result.id and r.hget(keys.job(result.id), "attempts") == "1"


def test_an_expired_action_is_cancelled_with_that_reason(tapp, module_worker, uid):
    # Given an action scheduled in 1 s that expires in 0.3 s
    result = tapp.double.apply_async(kwargs={"x": 1}, countdown=1, expires=0.3)
    handle = tapp.actions.handle(tapp.double, result.id)
    # When it comes due, then it is cancelled without running, saying why
    wait_for(lambda: handle.status() is ActionStatus.CANCELLED, what="the expiry")
    info = handle.info()
    assert (info.reason, info.attempts) == ("expired", 0)
    with pytest.raises(ActionCancelled):
        handle.result(timeout=5)


def test_options_that_cannot_apply_are_refused_with_nothing_written(tapp, r, keys, uid):
    for options, field in [
        ({"exchange": "custom"}, "exchange"),
        ({"mandatory": True}, "mandatory"),
        ({"ignore_result": True}, "ignore_result"),
        ({"queue": "a", "routing_key": "b"}, "routing_key"),
        ({"eta": "2030-01-01T00:00:00Z", "countdown": 5}, "countdown"),
        ({"headers": {"actions_token": "x"}}, "headers.actions_token"),
        ({"priority": "high"}, "priority"),
    ]:
        with pytest.raises(InvalidOptions) as caught:
            tapp.double.apply_async(kwargs={"x": 1}, task_id=f"bad-{uid}", **options)
        assert caught.value.field == field, options
        assert not r.exists(keys.job(f"bad-{uid}"))
