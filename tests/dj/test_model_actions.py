"""Model actions on a real worker: the record loaded by id, select, missing records, locks."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import OperationalError, transaction

from celery_actions import ActionStatus
from celery_actions.django import RecordNotFound
from celery_actions.testing import wait_for

from .conftest import needs_row_locks

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_model_action_runs_on_its_record(actions: Any, order: Any, dj_worker: Any) -> None:
    from tests.djproject.shop.actions import ship

    # When ship is enqueued with the order's id
    handle = actions.enqueue(ship, {"id": order.pk, "carrier": "dhl"})
    # Then the worker loads the order and the action's return value comes back
    assert handle.result(timeout=20) == f"{order.pk} via dhl"
    # and select returns fields of the record as it is after the action, related ones too
    assert handle.result(timeout=5, select=["id", "status", "carrier", "customer__email"]) == {
        "id": order.pk,
        "status": "shipped",
        "carrier": "dhl",
        "customer__email": order.customer.email,
    }


def test_select_is_for_model_actions(actions: Any, dj_worker: Any, uid: str) -> None:
    from tests.djproject.shop.actions import send_receipt

    handle = actions.enqueue(send_receipt, {"order_id": 1, "key": uid})
    with pytest.raises(TypeError, match="for model actions"):
        handle.result(timeout=20, select=["id"])


def test_a_missing_record_fails_at_once(actions: Any, order: Any, dj_worker: Any, uid: str):
    from tests.djproject.shop.actions import touch_nowait

    # Given an action with retries whose record is deleted before it runs
    pk = order.pk
    order.delete()
    handle = actions.enqueue(touch_nowait, {"id": pk, "key": uid})
    # Then it fails with RecordNotFound after one attempt: it is not retried
    with pytest.raises(RecordNotFound, match=f"no shop.Order with id {pk}"):
        handle.result(timeout=20)
    info = handle.info()
    assert (info.status, info.attempts) == (ActionStatus.FAILED, 1)


def test_enqueue_many_over_a_queryset(actions: Any, order: Any, dj_worker: Any, uid: str):
    from tests.djproject.shop.actions import ship
    from tests.djproject.shop.models import Order

    for _ in range(9):
        Order.objects.create(customer=order.customer)
    handles = actions.enqueue_many(ship, Order.objects.all(), id=f"bulk-{uid}")
    assert len(handles) == 10 and handles[9].id == f"bulk-{uid}-9"
    assert handles.results(timeout=30) == [f"{pk} via ups" for pk in sorted(
        Order.objects.values_list("pk", flat=True))]  # fmt: skip
    assert set(Order.objects.values_list("status", "shipments")) == {("shipped", 1)}


def _hold_the_row(actions: Any, order: Any, r: Any, uid: str) -> Any:
    from tests.djproject.shop.actions import hold_locked

    handle = actions.enqueue(hold_locked, {"id": order.pk, "key": f"{uid}:held",
                                           "release": f"{uid}:release"})  # fmt: skip
    wait_for(lambda: r.lrange(f"{uid}:held", 0, -1), 20, 0.02, "the row lock to be held")
    return handle


@needs_row_locks
def test_lock_update_waits_and_nowait_retries(actions: Any, order: Any, dj_worker: Any, r: Any,
                                              uid: str) -> None:  # fmt: skip
    from tests.djproject.shop.actions import touch_nowait

    # Given an action holding the order's row lock ("update")
    holder = _hold_the_row(actions, order, r, uid)
    # When a "nowait" action on the same row runs, it fails and is retried
    waiter = actions.enqueue(touch_nowait, {"id": order.pk, "key": f"{uid}:ran"})
    wait_for(lambda: waiter.info().failures >= 1, 20, 0.02, "a nowait attempt to fail")
    assert "OperationalError" in (waiter.info().error_type or "")
    assert not r.lrange(f"{uid}:ran", 0, -1)
    # Then, once the lock is released, it runs
    r.set(f"{uid}:release", 1)
    assert holder.result(timeout=20) == "held"
    assert waiter.result(timeout=20) == "touched"
    assert r.lrange(f"{uid}:ran", 0, -1) == ["ran"]


@needs_row_locks
def test_lock_skip_locked_skips(actions: Any, order: Any, dj_worker: Any, r: Any, uid: str):
    from tests.djproject.shop.actions import touch_skip

    holder = _hold_the_row(actions, order, r, uid)
    skipped = actions.enqueue(touch_skip, {"id": order.pk, "key": f"{uid}:ran"})
    assert skipped.result(timeout=20) is None
    assert not r.lrange(f"{uid}:ran", 0, -1)
    r.set(f"{uid}:release", 1)
    assert holder.result(timeout=20) == "held"


@needs_row_locks
def test_the_lock_is_held_in_a_transaction(actions: Any, order: Any, dj_worker: Any, r: Any,
                                           uid: str) -> None:  # fmt: skip
    from tests.djproject.shop.models import Order

    holder = _hold_the_row(actions, order, r, uid)
    with pytest.raises(OperationalError), transaction.atomic():
        Order.objects.select_for_update(nowait=True).get(pk=order.pk)
    r.set(f"{uid}:release", 1)
    holder.result(timeout=20)
