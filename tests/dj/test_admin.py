"""The admin: action records read-only, the outbox read-only, "Run ship on selected"."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from celery_actions.redis.listing import ActionFilter, ActionIndex

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff(django_user_model: Any) -> Client:
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def test_action_records_are_listed_and_shown_read_only(actions: Any, staff: Client, uid: str):
    from tests.djproject.shop.actions import send_receipt

    handle = actions.enqueue(send_receipt, {"order_id": 1, "key": uid}, queue="receipts")
    page = staff.get("/admin/celery_actions/actionrecord/")
    assert page.status_code == 200
    text = page.content.decode()
    assert handle.id in text and "receipts/1" in text and "waiting" in text
    only_failed = staff.get("/admin/celery_actions/actionrecord/", {"status": "failed"})
    assert handle.id not in only_failed.content.decode()
    detail = staff.get(f"/admin/celery_actions/actionrecord/{handle.id}/change/")
    assert detail.status_code == 200 and "send_receipt" in detail.content.decode()
    assert staff.get("/admin/celery_actions/actionrecord/nope/change/").status_code == 404
    assert staff.get("/admin/celery_actions/actionrecord/add/").status_code == 403
    assert staff.get("/admin/celery_actions/outboxentry/").status_code == 200


def test_run_a_model_action_on_selected_records(actions: Any, staff: Client, order: Any) -> None:
    from tests.djproject.shop.models import Order

    second = Order.objects.create(customer=order.customer)
    page = staff.get("/admin/shop/order/")
    assert "Run ship on selected" in page.content.decode()
    assert "Run hold_locked on selected" not in page.content.decode()  # it needs params
    response = staff.post(
        "/admin/shop/order/",
        {"action": "run_tests_djproject_shop_actions_ship",
         "_selected_action": [order.pk, second.pk]},
        follow=True,
    )  # fmt: skip
    text = response.content.decode()
    assert "Enqueued ship for 2 record(s)" in text
    base = text.split("(ids ")[1].split("-0..")[0]
    ship = "tests.djproject.shop.actions.ship"
    assert actions.handle(ship, f"{base}-0").info().params == {"id": order.pk, "carrier": "ups"}
    assert actions.handle(ship, f"{base}-1").info().params["id"] == second.pk


def test_a_viewer_without_change_permission_cannot_run_model_actions(
    actions: Any, django_user_model: Any, order: Any
) -> None:
    from django.contrib.auth.models import Permission

    # Given staff who may only view orders
    user = django_user_model.objects.create_user("viewer", "v@example.com", "pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_order"))
    viewer = Client()
    viewer.force_login(user)
    page = viewer.get("/admin/shop/order/")
    assert page.status_code == 200 and "Run ship on selected" not in page.content.decode()
    # When they post the action anyway, then nothing is enqueued
    ship = "tests.djproject.shop.actions.ship"
    index = ActionIndex(actions.runtime.store)
    before = index.count(ActionFilter(action=ship)).value
    response = viewer.post(
        "/admin/shop/order/",
        {"action": "run_tests_djproject_shop_actions_ship", "_selected_action": [order.pk]},
        follow=True,
    )
    assert "Enqueued" not in response.content.decode()
    assert index.count(ActionFilter(action=ship)).value == before
