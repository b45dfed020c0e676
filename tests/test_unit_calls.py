"""Celery's call options and priority numbers, mapped onto an action (pure logic)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from celery_actions import InvalidOptions, Priority
from celery_actions.core.calls import from_call
from celery_actions.core.priority import priority_of_number

NOW = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("number", "redis", "amqp"),
    [(0, "high", "low"), (2, "high", "low"), (3, "default", "low"), (5, "default", "default"),
     (6, "low", "high"), (9, "low", "high"), (255, "low", "high")],
)  # fmt: skip
def test_celery_priority_numbers_read_for_each_broker(number, redis, amqp):
    # Redis reads lists 0..9 lowest first (kombu steps 0, 3, 6, 9); AMQP highest first
    assert priority_of_number(number, "redis") is Priority(redis)
    assert priority_of_number(number, "amqp") is Priority(amqp)


def test_call_options_become_enqueue_options_and_carried_ones():
    call = from_call(
        {"task_id": "t-1", "countdown": 30, "priority": 9, "queue": "mail", "expires": 60,
         "headers": {"tenant": "a"}, "link": {"task": "x", "args": [], "kwargs": {}},
         "producer": object(), "retry": True, "add_to_parent": False},
        "redis", NOW,
    )  # fmt: skip
    assert call.options == {"id": "t-1", "start_at": NOW + timedelta(seconds=30),
                            "priority": "low", "celery_queue": "mail"}  # fmt: skip
    assert call.message["expires"] == (NOW + timedelta(seconds=60)).isoformat()
    assert call.message["headers"] == {"tenant": "a"}
    assert call.message["callbacks"] == [{"task": "x", "args": [], "kwargs": {}}]
    assert call.add_to_parent is False


def test_none_values_count_as_not_given():
    call = from_call({"task_id": None, "eta": None, "link": None, "priority": None}, "redis", NOW)
    assert call.options == {} and call.message == {}


@pytest.mark.parametrize(
    ("options", "field"),
    [({"delivery_mode": 2}, "delivery_mode"), ({"serializer": "pickle"}, "serializer"),
     ({"compression": "zlib"}, "compression"), ({"priority": -1}, "priority"),
     ({"priority": True}, "priority"), ({"expires": "soon"}, "expires"),
     ({"expires": datetime(2030, 1, 1)}, "expires"), ({"link": "not a signature"}, "link"),
     ({"expires": "9999-12-31T23:59:59-05:00"}, "expires"),
     ({"expires": "0001-01-01T00:00:00+14:00"}, "expires"), ({"expires": 10**30}, "expires"),
     ({"headers": {"task": "x"}}, "headers.task"), ({"countdown": "5"}, "countdown"),
     ({"group_index": "1"}, "group_index"), ({"time_limit": -1}, "time_limit")],
)  # fmt: skip
def test_options_that_cannot_apply_are_named(options, field):
    with pytest.raises(InvalidOptions) as caught:
        from_call(options, "redis", NOW)
    assert caught.value.field == field
