"""Hostile input: every option or param either enqueues or raises a named ValueError
(InvalidOptions, InvalidParams, DuplicateActionId) or TypeError, and a refused enqueue
writes nothing to Redis or the broker."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from celery_actions import InvalidOptions, InvalidParams
from celery_actions.core.calls import KNOWN as CALL_OPTIONS

KNOWN = ["startAt", "start_at", "retries", "retryFor", "queue", "priority", "id",
         "onDuplicateID", "celery_queue"]  # fmt: skip
NESTED = ["retryCount", "initialInterval", "maxInterval", "backoffFactor",
          "randomizeInterval", "name", "maxConcurrency"]  # fmt: skip


def _cyclic() -> list[object]:
    loop: list[object] = []
    loop.append(loop)
    return loop


def _deep(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = [value]
    return value


texts = st.one_of(
    st.text(max_size=30),
    st.sampled_from([
        "", " ", "\n", "\ud800", "lone-\udc00", "x" * 10_000, "1700000000", "NaN",
        "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+14:00", "2026-01-01T00:00:00",
        "2026-01-01T00:00:00Z", "high", "LOW", "medium", "ignore", "a\x00b", "q\nq",
    ]),
)  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([2**63, -1, 0, 101, 10_001]),
    st.sampled_from([400, 5000]).map(lambda digits: -(10**digits)),  # huge ints
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
    st.sampled_from([b"\xff\xfe", b"bytes", timedelta(days=400), timedelta(milliseconds=5)]),
    st.datetimes(timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=-5))])),
    st.just(datetime.max.replace(tzinfo=timezone(timedelta(hours=-5)))),
)
values = (
    st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.sampled_from(NESTED) | st.text(max_size=5), inner, max_size=3),
        ),
        max_leaves=8,
    )
    | st.builds(_cyclic)
    | st.builds(_deep, st.sampled_from([63, 65, 300, 2000]))
)
options = st.dictionaries(st.sampled_from(KNOWN) | st.text(max_size=8), values, max_size=4)
call_options = st.dictionaries(
    st.sampled_from(CALL_OPTIONS)
    | st.text(max_size=8).filter(lambda k: k not in ("args", "kwargs")),
    values,
    max_size=3,
)


def snapshot(r, broker, keys) -> tuple[object, ...]:
    """Everything an enqueue could write: keys, broker lists, the gate's sets."""
    return (r.dbsize(), broker.every_length(), r.zcard(keys.scheduled), r.zcard(keys.leases))


def enqueue_or_refuse(r, broker, keys, enqueue) -> None:
    before = snapshot(r, broker, keys)
    try:
        enqueue()
    except (InvalidOptions, InvalidParams) as exc:
        assert exc.field is not None, exc  # the error names what was wrong
        assert snapshot(r, broker, keys) == before, exc
    except ValueError as exc:  # DuplicateActionId: a fuzzed id used twice
        assert type(exc).__name__ == "DuplicateActionId", repr(exc)
        assert snapshot(r, broker, keys) == before
    except TypeError as exc:
        assert "not an action" in str(exc) or "options" in str(exc), repr(exc)
        assert snapshot(r, broker, keys) == before


FUZZ = settings(
    max_examples=250, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)  # fmt: skip


@FUZZ
@given(opts=options)
def test_fuzzed_options_enqueue_or_raise_a_named_error_writing_nothing(tapp, r, broker, keys, opts):
    enqueue_or_refuse(r, broker, keys, lambda: tapp.actions.enqueue(tapp.add, {"a": 1}, opts))


@settings(FUZZ, max_examples=150)
@given(opts=call_options, payload=values)
@example(opts={"expires": "9999-12-31T23:59:59-05:00"}, payload=1)
@example(opts={"countdown": 10**400, "priority": 2**63}, payload=float("nan"))
def test_fuzzed_celery_calls_enqueue_or_raise_a_named_error_writing_nothing(
    tapp, r, broker, keys, opts, payload
):
    # apply_async (what .delay(), signatures, canvas and beat come through)
    enqueue_or_refuse(
        r, broker, keys, lambda: tapp.echo.apply_async(kwargs={"payload": payload}, **opts)
    )


@FUZZ
@given(payload=values)
def test_fuzzed_params_enqueue_or_raise_a_named_error_writing_nothing(
    tapp, r, broker, keys, payload
):
    enqueue_or_refuse(
        r, broker, keys, lambda: tapp.actions.enqueue(tapp.echo, {"payload": payload})
    )
    enqueue_or_refuse(
        r, broker, keys, lambda: tapp.actions.enqueue_many(tapp.echo, [{"payload": payload}])
    )


@pytest.mark.parametrize(
    ("params", "options", "error", "field"),
    [
        ({"payload": 10**5000}, {}, InvalidParams, "payload"),
        ({"payload": math.nan}, {}, InvalidParams, "payload"),
        ({"payload": [math.inf]}, {}, InvalidParams, "payload"),
        ({"payload": "\ud800"}, {}, InvalidParams, "payload"),
        ({"payload": _cyclic()}, {}, InvalidParams, "payload"),
        ({"payload": _deep(300)}, {}, InvalidParams, "payload"),
        ({"payload": "x" * (300 * 1024)}, {}, InvalidParams, "params"),
        ({}, {"startAt": "9999-12-31T23:59:59-05:00"}, InvalidOptions, "startAt"),
        ({}, {"startAt": "1700000000"}, InvalidOptions, "startAt"),
        ({}, {"retries": {"retryCount": 1, "initialInterval": 10**400}}, InvalidOptions,
         "retries.initialInterval"),
        ({}, {"retries": 10_001}, InvalidOptions, "retries"),
        ({}, {"queue": "q" * 10_000}, InvalidOptions, "queue"),
        ({}, {"queue": "a\nb"}, InvalidOptions, "queue"),
        ({}, {"id": "\ud800"}, InvalidOptions, "id"),
    ],
)  # fmt: skip
def test_each_reported_counter_example_is_a_named_error_writing_nothing(
    tapp, r, broker, keys, params, options, error, field
):
    before = snapshot(r, broker, keys)
    with pytest.raises(error) as caught:
        tapp.actions.enqueue(tapp.echo, params, options)
    assert caught.value.field == field
    assert snapshot(r, broker, keys) == before


def test_big_params_travel_once_in_the_message(tapp, broker, uid):
    # Given params of 100 KB
    handle = tapp.actions.enqueue(tapp.echo, {"payload": "x" * 100_000}, celery_queue=f"big-{uid}")
    # Then the broker message carries them once (kwargsrepr is cut to 1 KB, as Celery cuts it)
    (message,) = [m for ms in broker.messages(f"big-{uid}").values() for m in ms]
    assert len(message["headers"]["kwargsrepr"]) <= 1024
    assert 100_000 < len(str(message)) < 140_000  # the body, base64: 4/3 of the params
    handle.cancel()
