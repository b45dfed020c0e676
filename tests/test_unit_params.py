"""Params validation from the action's signature."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from celery_actions import InvalidParams
from celery_actions.core.params import ParamsModel


def send_email(to: str, subject: str = "Welcome!", when: datetime | None = None) -> None: ...


def anything(payload: Any = None) -> None: ...


model = ParamsModel(send_email, "shop.send_email")


def test_valid_params_become_json_and_load_back_as_python():
    when = datetime(2026, 1, 1, tzinfo=UTC)
    wire = model.validate({"to": "ann@example.com", "when": when})
    assert wire == {"to": "ann@example.com", "subject": "Welcome!", "when": "2026-01-01T00:00:00Z"}
    assert model.load(wire)["when"] == when


@pytest.mark.parametrize(
    ("params", "field", "text"),
    [
        ({}, "to", "missing required param 'to'"),
        ({"to": "a", "subjet": "x"}, "subjet", "unknown param 'subjet'"),
        ({"to": ["a"]}, "to", "param 'to'"),
        ({"to": "a", "when": "not a date"}, "when", "param 'when'"),
        ({"to": "a", 1: "x"}, "1", "keys must be strings, got 1"),
    ],
)
def test_bad_params_name_the_field(params, field, text):
    with pytest.raises(InvalidParams) as caught:
        model.validate(params)
    assert isinstance(caught.value, ValueError)
    assert caught.value.field == field
    assert text in str(caught.value)
    assert "shop.send_email" in str(caught.value)


def test_unserialisable_params_are_rejected_with_the_field():
    m = ParamsModel(anything, "x.anything")
    with pytest.raises(InvalidParams, match="'payload' is not JSON-serialisable") as caught:
        m.validate({"payload": object()})
    assert caught.value.field == "payload"
    assert m.validate({"payload": {"a": [1, Decimal("1.5")]}}) == {"payload": {"a": [1, "1.5"]}}


def counts(tally: dict[str, int], note: str = "") -> None: ...


def test_a_lone_surrogate_in_a_dict_key_is_refused_not_replaced():
    m = ParamsModel(counts, "x.counts")
    with pytest.raises(InvalidParams, match="'tally' is not JSON-serialisable") as caught:
        m.validate({"tally": {"\ud800": 1}})
    assert caught.value.field == "tally"
    # a real U+FFFD is text like any other
    assert m.validate({"tally": {"\ufffd": 1}, "note": "\ufffd"})["tally"] == {"\ufffd": 1}


def test_params_must_be_a_dict():
    with pytest.raises(InvalidParams, match="must be a dict"):
        model.validate(["ann@example.com"])  # type: ignore[arg-type]


def test_var_args_are_refused_at_declaration():
    def bad(*args: int) -> None: ...

    with pytest.raises(TypeError, match=r"\*args"):
        ParamsModel(bad, "x.bad")
