"""Options: both spellings, precedence, defaults, and a clear error for each bad value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from celery_actions import InvalidOptions, Priority
from celery_actions.core.options import parse_options
from celery_actions.core.resolve import resolve


def resolved(options=None, action=None, env="production", **kwargs):
    return resolve(
        parse_options(options, **kwargs),
        None if action is None else parse_options(action),
        env,
    )


def test_gadget_and_python_spellings_mean_the_same():
    gadget = resolved(
        {
            "startAt": "2026-04-03T12:00:00.000Z",
            "retries": {"retryCount": 5, "initialInterval": 1000, "maxInterval": 60000,
                        "backoffFactor": 3, "randomizeInterval": True},
            "queue": {"name": "dedicated-queue", "maxConcurrency": 4},
            "priority": "high",
            "id": "welcome-42",
            "onDuplicateID": "ignore",
            "retryFor": 60_000,
        }
    )  # fmt: skip
    python = resolved(
        start_at=datetime(2026, 4, 3, 12, tzinfo=UTC),
        retries={"retry_count": 5, "initial_interval": timedelta(seconds=1),
                 "max_interval": 60000, "backoff_factor": 3, "randomize_interval": True},
        queue={"name": "dedicated-queue", "max_concurrency": 4},
        priority="HIGH",
        id="welcome-42",
        on_duplicate_id="ignore",
        retry_for=timedelta(minutes=1),
    )  # fmt: skip
    assert gadget == python
    assert gadget.start_at_ms == int(datetime(2026, 4, 3, 12, tzinfo=UTC).timestamp() * 1000)
    assert gadget.retry.retry_count == 5 and gadget.retry.randomize
    assert (gadget.group, gadget.max_concurrency) == ("dedicated-queue", 4)


def test_defaults_depend_on_the_environment():
    assert resolved().retry.retry_count == 6
    assert resolved(env="development").retry.retry_count == 2
    # An object without retryCount keeps the environment's count.
    assert resolved({"retries": {"initialInterval": 10}}, env="development").retry.retry_count == 2
    plain = resolved()
    assert plain.priority is Priority.DEFAULT and plain.group is None
    assert plain.retry.retry_for_ms == 7 * 24 * 3600 * 1000
    assert plain.retry.initial_interval_ms == 1000 and plain.retry.backoff_factor == 2


def test_precedence_call_then_action_then_settings():
    # Given an action with defaults
    action = {"retries": 9, "queue": "emails", "priority": "low"}
    # When the call sets only retries
    got = resolved({"retries": 1}, action=action)
    # Then the call wins where it speaks, and the action fills the rest
    assert got.retry.retry_count == 1
    assert got.group == "emails" and got.priority is Priority.LOW


def test_queue_string_means_limit_one_and_medium_means_default():
    got = resolved({"queue": "customer-42", "priority": "Medium"})
    assert (got.group, got.max_concurrency, got.priority) == ("customer-42", 1, Priority.DEFAULT)


def test_start_at_keeps_the_instant_across_offsets():
    got = resolved({"startAt": "2026-04-03T14:00:00+02:00"})
    assert got.start_at == datetime(2026, 4, 3, 12, tzinfo=UTC)
    aware = datetime(2026, 4, 3, 9, tzinfo=timezone(timedelta(hours=-3)))
    assert resolved(start_at=aware).start_at == datetime(2026, 4, 3, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("options", "field", "words"),
    [
        ({"startat": "2026-01-01T00:00:00Z"}, "startat", ["did you mean", "start"]),
        ({"priorty": "high"}, "priorty", ["did you mean 'priority'"]),
        ({"retries": {"retrycount": 2}}, "retries.retrycount", ["did you mean 'retryCount'"]),
        ({"queue": {"name": "q", "maxconcurrency": 2}}, "queue.maxconcurrency", ["maxConcurrency"]),
        ({"startAt": "2026-01-01T00:00:00"}, "startAt", ["ISO 8601", "offset"]),
        ({"startAt": "tomorrow"}, "startAt", ["ISO 8601"]),
        ({"startAt": 1700000000}, "startAt", ["ISO 8601"]),
        ({"startAt": datetime(2026, 1, 1)}, "startAt", ["aware"]),
        ({"retries": -1}, "retries", ["0 to 10000"]),
        ({"retries": 10_001}, "retries", ["0 to 10000"]),
        ({"startAt": "1700000000"}, "startAt", ["ISO 8601"]),
        ({"startAt": "9999-12-31T23:59:59-05:00"}, "startAt", ["hundred years"]),
        ({"startAt": "2999-01-01T00:00:00Z"}, "startAt", ["hundred years"]),
        ({"retries": {"initialInterval": 10**400}}, "retries.initialInterval", ["30 days"]),
        ({"retries": {"maxInterval": 31 * 86_400_000}}, "retries.maxInterval", ["30 days"]),
        ({"retryFor": 366 * 86_400_000}, "retryFor", ["a year"]),
        ({"queue": "q" * 10_000}, "queue", ["1 to 200"]),
        ({"queue": "line\nbreak"}, "queue", ["control characters"]),
        ({"queue": "\ud800"}, "queue", ["queue name"]),
        ({"id": "lone-\udc00"}, "id", ["1 to 200"]),
        ({"celery_queue": "x" * 201}, "celery_queue", ["1 to 200"]),
        (
            {"startAt": "2026-01-01T00:00:00Z", "start_at": "2026-01-01T00:00:00Z"},
            "startAt",
            ["given twice"],
        ),
        ({"retries": True}, "retries", ["int"]),
        ({"retries": "3"}, "retries", ["int"]),
        ({"retries": {"retryCount": -2}}, "retries.retryCount", ["0 to 10000"]),
        ({"retries": {"initialInterval": -1}}, "retries.initialInterval", ["milliseconds"]),
        ({"retries": {"maxInterval": "soon"}}, "retries.maxInterval", ["milliseconds"]),
        ({"retries": {"backoffFactor": 0.5}}, "retries.backoffFactor", ["1 to 1000"]),
        ({"queue": {"name": "q", "maxConcurrency": 0}}, "queue.maxConcurrency", ["1 to 100"]),
        ({"queue": {"name": "q", "maxConcurrency": 101}}, "queue.maxConcurrency", ["1 to 100"]),
        ({"queue": {"maxConcurrency": 2}}, "queue.name", ["name"]),
        ({"queue": ""}, "queue", ["queue name"]),
        ({"queue": 7}, "queue", ["queue name"]),
        ({"priority": "urgent"}, "priority", ["'low', 'default' (or 'medium'), 'high'"]),
        ({"priority": 1}, "priority", ["'low'"]),
        ({"id": ""}, "id", ["1 to 200"]),
        ({"id": "has space"}, "id", ["without whitespace"]),
        ({"id": "x" * 201}, "id", ["1 to 200"]),
        ({"onDuplicateID": "replace"}, "onDuplicateID", ["'error', 'ignore'"]),
        ({"retryFor": -5}, "retryFor", ["milliseconds"]),
    ],
)
def test_each_bad_option_names_its_field_and_the_allowed_values(options, field, words):
    with pytest.raises(InvalidOptions) as caught:
        parse_options(options)
    assert isinstance(caught.value, ValueError)
    assert caught.value.field == field
    text = str(caught.value)
    assert field.split(".")[-1] in text
    for word in words:
        assert word in text


def test_an_option_given_twice_is_an_error():
    with pytest.raises(InvalidOptions, match="given twice"):
        parse_options({"priority": "high"}, priority="low")


def test_options_must_be_a_mapping():
    with pytest.raises(InvalidOptions, match="must be a dict"):
        parse_options(["priority", "high"])  # type: ignore[arg-type]
