"""Adoption at the door: messages for actions sent by a plain Celery app that never
imports celery_actions (another service, an older deploy) get every guarantee of an
enqueue, or are refused with a logged reason. Nothing runs outside the gate."""

from __future__ import annotations

import pytest

from celery_actions import ActionNotFound, ActionStatus, InvalidParams
from celery_actions.testing import wait_for


@pytest.fixture
def foreign(tapp):
    from tests import foreign

    return foreign.app


def test_a_foreign_message_becomes_a_recorded_action_with_retries(
    tapp, foreign, module_worker, r, uid
):
    # Given a plain Celery app that sends an action's message by name, with positional args
    key = f"foreign-{uid}"
    sent = foreign.send_task("tests.app.fail_times", args=(key,), kwargs={"times": 1})
    # Then the action is recorded under the message's id, retried by its policy, and its
    # result reaches the sender as any Celery result does
    assert sent.get(timeout=30) == 2
    handle = tapp.actions.handle(tapp.fail_times, sent.id)
    info = handle.info()
    assert (info.status, info.attempts, info.failures) == (ActionStatus.COMPLETE, 2, 1)
    assert info.params == {"key": key, "times": 1}
    assert f"adopted a message for tests.app.fail_times[{sent.id}]" in module_worker.output()


def test_foreign_messages_keep_the_declared_queue_limit(tapp, foreign, start_worker, r, uid):
    # Given an action that declares a limit-1 queue, and two workers
    start_worker("tests.app")
    start_worker("tests.app")
    key = f"limit-{uid}"
    # When a foreign producer sends three of its messages at once
    sent = [foreign.send_task("tests.app.limited", kwargs={"key": key, "ms": 300}) for _ in "abc"]
    # Then they run one at a time, as the declared limit says
    for result in sent:
        assert result.get(timeout=30) == 1
    assert int(r.get(f"{key}:max")) == 1


def test_foreign_params_are_validated_and_nothing_is_recorded(tapp, foreign, module_worker, uid):
    # Given a foreign message whose param is a str where the action declares an int
    sent = foreign.send_task("tests.app.add", kwargs={"a": "not-an-int", "b": 1})
    # Then it fails as Celery fails a task, naming the param, and never runs
    with pytest.raises(InvalidParams, match="'a'"):
        sent.get(timeout=20)
    with pytest.raises(ActionNotFound):
        tapp.actions.handle(tapp.add, sent.id).status()
    assert f"refused a message for tests.app.add[{sent.id}]" in module_worker.output()


def test_the_same_id_sent_twice_runs_once(tapp, foreign, module_worker, r, uid):
    # Given two foreign messages with one id
    key = f"twice-{uid}"
    first = foreign.send_task("tests.app.record", kwargs={"key": key, "value": "a"}, task_id=uid)
    assert first.get(timeout=20) == "a"
    foreign.send_task("tests.app.record", kwargs={"key": key, "value": "b"}, task_id=uid)
    # Then the second is dropped and logged, and the action ran once
    wait_for(
        lambda: f"dropped a message for tests.app.record[{uid}]" in module_worker.output(),
        what="the duplicate dropped",
    )
    assert r.lrange(key, 0, -1) == ["a"]
    assert tapp.actions.handle(tapp.record, uid).info().attempts == 1


def test_a_foreign_message_keeps_its_priority_headers_and_link(
    tapp, foreign, module_worker, keys, r, uid
):
    # Given a foreign message with a priority, a header and a link
    key = f"linked-{uid}"
    sent = foreign.send_task(
        "tests.app.double", args=(4,), priority=1, headers={"tenant": "t-9"},
        link=foreign.signature("tests.app.plain_record", kwargs={"key": key}),
    )  # fmt: skip
    # Then the adopted action carries them: its link gets its result
    assert sent.get(timeout=20) == 8
    wait_for(lambda: r.lrange(key, 0, -1), what="the link")
    assert r.lrange(key, 0, -1) == ["8"]
    record = r.hgetall(keys.job(sent.id))
    assert record["priority"] == "high"
    assert '"tenant": "t-9"' in record["celery"]


def test_a_foreign_message_with_no_priority_keeps_the_declared_one(
    tapp, foreign, module_worker, keys, r
):
    # Given an action declared low, sent by a plain app that gives no priority (kombu's
    # Redis transport files such a message as priority 0, its top list)
    sent = foreign.send_task("tests.app.patient", args=(3,))
    # Then the adopted action has its declared priority, not high
    assert sent.get(timeout=20) == 3
    assert r.hget(keys.job(sent.id), "priority") == "low"
