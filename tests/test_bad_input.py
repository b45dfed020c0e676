"""Bad options and params are rejected at enqueue, and nothing is recorded or published."""

from __future__ import annotations

import pytest

from celery_actions import ActionsError, DuplicateActionId, InvalidOptions, InvalidParams


@pytest.fixture
def state(broker, keys, r):
    """Reads every broker list's length, the number of job records and the schedule's."""

    def read():
        jobs = sum(1 for _ in r.scan_iter(keys.job_pattern))
        return broker.every_length(), jobs, r.zcard(keys.scheduled)

    return read


@pytest.mark.parametrize(
    ("params", "options", "error", "field"),
    [
        ({"a": 1}, {"startat": "2026-01-01T00:00:00Z"}, InvalidOptions, "startat"),
        ({"a": 1}, {"priority": "urgent"}, InvalidOptions, "priority"),
        ({"a": 1}, {"queue": {"name": "q", "maxConcurrency": 500}}, InvalidOptions,
         "queue.maxConcurrency"),
        ({"a": 1}, {"retries": {"backoffFactor": 0}}, InvalidOptions, "retries.backoffFactor"),
        ({"a": 1}, {"startAt": "2026-01-01 12:00"}, InvalidOptions, "startAt"),
        ({"a": 1}, {"id": "two words"}, InvalidOptions, "id"),
        ({}, None, InvalidParams, "a"),
        ({"a": 1, "c": 2}, None, InvalidParams, "c"),
        ({"a": "one"}, None, InvalidParams, "a"),
        ({"a": 1, "b": object()}, None, InvalidParams, "b"),
    ],
)  # fmt: skip
def test_bad_input_raises_and_nothing_is_recorded_or_published(
    tapp, state, params, options, error, field
):
    # Given the broker and the job store as they are
    before = state()
    # When an enqueue has one bad field
    with pytest.raises(error) as caught:
        tapp.actions.enqueue(tapp.add, params, options)
    # Then the error is a ValueError that names the field
    assert isinstance(caught.value, ValueError)
    assert caught.value.field == field
    assert field.split(".")[-1] in str(caught.value)
    # And nothing was recorded or published
    assert state() == before


def test_bulk_with_one_bad_item_enqueues_nothing(tapp, state, uid):
    # Given the broker and the job store as they are
    before = state()
    # When a bulk has one bad item
    items = [{"a": 1}, {"a": 2}, {"a": "x"}, {"a": 4}]
    with pytest.raises(InvalidParams) as caught:
        tapp.actions.enqueue_many(tapp.add, items, {"id": f"bulk-{uid}"})
    # Then the error names the item and its field, and nothing of the bulk was enqueued
    assert caught.value.field == "[2].a"
    assert "item 2" in str(caught.value)
    assert state() == before


def test_bulk_with_a_taken_id_enqueues_nothing(tapp, state, uid):
    # Given an action that holds id <base>-1
    tapp.actions.enqueue(tapp.add, {"a": 1}, {"id": f"b-{uid}-1", "startAt": "2099-01-01T00:00Z"})
    before = state()
    # When a bulk of three with ids <base>-0..2 is enqueued
    with pytest.raises(DuplicateActionId):
        tapp.actions.enqueue_many(tapp.add, [{"a": 1}] * 3, {"id": f"b-{uid}"})
    # Then it is refused whole: nothing was recorded or published
    assert state() == before


def test_enqueueing_something_that_is_not_an_action_is_a_type_error_naming_it(tapp, state):
    # Given a plain function, an unknown task name and a number
    def not_an_action(a: int) -> int:
        return a

    before = state()
    # When each is enqueued, then it is a TypeError (and an ActionsError) that names it
    for thing, named in ((not_an_action, "not_an_action"), ("tests.app.nope", "nope"),
                         (42, "builtins.int")):  # fmt: skip
        with pytest.raises(TypeError, match=f"{named}.* is not an action") as caught:
            tapp.actions.enqueue(thing, {"a": 1})
        assert isinstance(caught.value, ActionsError)
    # And nothing was recorded or published
    assert state() == before
