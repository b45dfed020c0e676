"""The app itself: system checks, autodiscovery, migrations, model action params."""

from __future__ import annotations

from dataclasses import replace
from io import StringIO
from typing import Any

import pytest
from django.apps import apps
from django.core.management import call_command

from celery_actions import InvalidOptions, InvalidParams
from celery_actions.django.apps import autodiscover
from celery_actions.django.checks import check_configuration
from celery_actions.django.conf import DjangoSettings
from celery_actions.django.model_actions import records


def test_the_app_has_its_label() -> None:
    config = apps.get_app_config("celery_actions")
    assert config.name == "celery_actions.django"


def test_manage_py_check_is_clean() -> None:
    call_command("check", stdout=StringIO())


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [
        ("actions_environment", "prod", "CELERY_ACTIONS_ENVIRONMENT must be"),
        ("actions_lease_timeout", "soon", "CELERY_ACTIONS_LEASE_TIMEOUT must be a number"),
        ("actions_browser_rate_limit", "lots", "CELERY_ACTIONS_BROWSER_RATE_LIMIT 'lots'"),
        ("actions_browser_actions", "ship", "CELERY_ACTIONS_BROWSER_ACTIONS must be a list"),
        ("actions_browser_actions", {"ship": 5}, "CELERY_ACTIONS_BROWSER_ACTIONS must be"),
        ("actions_on_commit", "yes", "CELERY_ACTIONS_ON_COMMIT must be True or False"),
        ("actions_outbox_relay_after", 0, "CELERY_ACTIONS_OUTBOX_RELAY_AFTER must be"),
        ("actions_database", "other", "CELERY_ACTIONS_DATABASE is 'other'"),
    ],
)
def test_a_wrong_setting_is_a_check_error(actions: Any, setting: str, value: Any, expected: str):
    # Given a wrong CELERY_ACTIONS_* value
    conf = actions.app.conf
    saved = conf.get(setting)
    conf[setting] = value
    try:
        # When the system checks run
        errors = check_configuration()
    finally:
        conf[setting] = saved
    # Then one error names the setting
    assert len(errors) == 1, errors
    assert expected in errors[0].msg
    assert errors[0].id.startswith("celery_actions.E")


def test_an_unknown_browser_action_is_a_check_warning(actions: Any) -> None:
    conf = actions.app.conf
    saved = conf.get("actions_browser_actions")
    conf["actions_browser_actions"] = ["tests.djproject.shop.actions.ship", "shop.typo"]
    try:
        found = check_configuration()
    finally:
        conf["actions_browser_actions"] = saved
    assert [(m.id, "shop.typo" in m.msg) for m in found] == [("celery_actions.W001", True)]
    assert "tests.djproject.shop.actions.ship" not in found[0].msg


def test_django_settings_defaults() -> None:
    assert DjangoSettings.from_conf({}) == DjangoSettings(True, "default", 5.0)


def test_actions_modules_are_autodiscovered(actions: Any) -> None:
    assert "tests.djproject.shop.actions" in autodiscover()
    assert "tests.djproject.shop.actions.ship" in actions.registered


@pytest.mark.django_db
def test_migrations_match_the_models() -> None:
    call_command("makemigrations", "--check", "--dry-run", stdout=StringIO())


def test_model_action_params_are_validated(actions: Any, order: Any) -> None:
    from tests.djproject.shop.actions import ship
    from tests.djproject.shop.models import Customer, Order

    with pytest.raises(InvalidParams, match="missing required param 'id'"):
        actions.enqueue(ship, {"carrier": "ups"})
    with pytest.raises(InvalidParams, match="unknown param 'color'"):
        actions.enqueue(ship, {"id": order.pk, "color": "red"})
    with pytest.raises(InvalidParams, match="'id'"):
        actions.enqueue(ship, {"id": "not a number"})
    with pytest.raises(InvalidParams, match="an unsaved Order"):
        actions.enqueue(ship, {"id": Order(customer=order.customer)})
    with pytest.raises(InvalidParams, match="a Customer, not a Order"):
        actions.enqueue(ship, {"id": Customer.objects.get()})
    # the instance is accepted for the id, and stored as the id
    handle = actions.enqueue(ship, {"id": order, "carrier": "dhl"})
    assert handle.info().params == {"id": order.pk, "carrier": "dhl"}
    assert handle.cancel()


def test_model_action_declaration_errors(actions: Any) -> None:
    from tests.djproject.shop.models import Order

    with pytest.raises(InvalidOptions, match="lock must be"):
        actions.model_action(Order, lock="table")
    with pytest.raises(TypeError, match="Django model class"):
        actions.model_action(dict)
    with pytest.raises(TypeError, match="first parameter takes the record"):
        actions.model_action(Order)(lambda: None)


def test_records_reads_a_queryset_in_pages(order: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from celery_actions.django import model_actions
    from tests.djproject.shop.models import Order

    # Given 7 orders and pages of 3 ids
    for _ in range(6):
        Order.objects.create(customer=order.customer)
    monkeypatch.setattr(model_actions, "PAGE", 3)
    items = records(Order.objects.all(), carrier="ups")
    ids = sorted(Order.objects.values_list("pk", flat=True))
    # Then every id comes once, in order, with the params
    assert len(items) == 7
    assert [item["id"] for item in items] == ids
    assert items[4] == {"carrier": "ups", "id": ids[4]}
    # and rows deleted after the count are a clear error
    Order.objects.filter(pk__in=ids[-2:]).delete()
    with pytest.raises(InvalidParams, match="fewer rows"):
        [items[i] for i in range(7)]


def test_the_on_commit_setting_can_be_off(actions: Any) -> None:
    hold = actions.hold
    saved = hold.settings
    hold.settings = replace(saved, on_commit=False)
    try:
        assert not hold._in_transaction()
    finally:
        hold.settings = saved


@pytest.mark.django_db(transaction=True)
def test_a_model_action_can_be_called_directly(order: Any) -> None:
    from tests.djproject.shop.actions import ship

    assert ship(order, carrier="fedex") == f"{order.pk} via fedex"
    assert ship(id=order.pk) == f"{order.pk} via ups"
    order.refresh_from_db()
    assert (order.status, order.shipments) == ("shipped", 2)
