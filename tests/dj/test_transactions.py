"""Enqueue inside transaction.atomic(): a real handle at once, published on commit, never
after a rollback; the outbox relayed by the workers' pump."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from celery_actions import ActionNotFound, ActionStatus, DuplicateActionId
from celery_actions.django.models import OutboxEntry
from celery_actions.testing import wait_for

from .conftest import worker_env

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db(transaction=True)


PUBLISHED = {ActionStatus.WAITING, ActionStatus.RUNNING, ActionStatus.COMPLETE}
"""Statuses of an action that was published (a worker may take it at once)."""


def test_enqueue_in_atomic_publishes_on_commit(actions: Any, order: Any, uid: str) -> None:
    from tests.djproject.shop.actions import send_receipt

    # Given an open transaction
    with transaction.atomic():
        # When an action is enqueued in it
        handle = actions.enqueue(send_receipt, {"order_id": order.pk, "key": uid})
        # Then its id is known at once and can be saved in the same transaction
        order.receipt_action = handle.id
        order.save()
        assert OutboxEntry.objects.filter(id=handle.id).exists()
        # but nothing is published before the commit
        with pytest.raises(ActionNotFound):
            handle.status()
    # After the commit it is published
    assert handle.status() in PUBLISHED
    order.refresh_from_db()
    assert order.receipt_action == handle.id


def test_delay_and_apply_async_in_atomic_publish_on_commit(actions: Any, r: Any, uid: str):
    from tests.djproject.shop.actions import send_receipt

    # Given Celery's own calls of an action inside a transaction
    with transaction.atomic():
        delayed = send_receipt.delay(7, f"{uid}-d")
        applied = send_receipt.apply_async(
            kwargs={"order_id": 8, "key": f"{uid}-a"}, headers={"tenant": "t-1"}, expires=600
        )
        # Then their ids are known at once, held in the outbox, and nothing is published
        assert OutboxEntry.objects.filter(id__in=[delayed.id, applied.id]).count() == 2
        for result in (delayed, applied):
            with pytest.raises(ActionNotFound):
                actions.handle(send_receipt, result.id).status()
    # After the commit both are published, with what the message carries
    assert actions.handle(send_receipt, delayed.id).info().params == {
        "order_id": 7,
        "key": f"{uid}-d",
    }
    record = r.hgetall(actions.runtime.store.keys.job(applied.id))
    assert record["status"] in PUBLISHED and '"tenant": "t-1"' in record["celery"]
    assert '"expires"' in record["celery"]
    # And a rolled back delay never exists
    with pytest.raises(RuntimeError), transaction.atomic():
        dropped = send_receipt.delay(9, f"{uid}-x")
        raise RuntimeError("rollback")
    with pytest.raises(ActionNotFound):
        actions.handle(send_receipt, dropped.id).status()


def test_a_browser_identity_is_kept_through_the_outbox(actions: Any, r: Any, uid: str) -> None:
    from celery_actions.client.identity import enqueued_by
    from tests.djproject.shop.actions import send_receipt

    with transaction.atomic(), enqueued_by("u:77"):
        handle = actions.enqueue(send_receipt, {"order_id": 1, "key": uid})
        assert OutboxEntry.objects.filter(id=handle.id).exists()
    assert r.hget(actions.runtime.store.keys.job(handle.id), "identity") == "u:77"


def test_a_rollback_publishes_nothing(actions: Any, order: Any, uid: str) -> None:
    from tests.djproject.shop.actions import send_receipt

    # Given an enqueue inside a transaction that rolls back
    with pytest.raises(RuntimeError), transaction.atomic():
        handle = actions.enqueue(send_receipt, {"order_id": order.pk, "key": uid})
        raise RuntimeError("rollback")
    # Then there is no record and no outbox row
    with pytest.raises(ActionNotFound):
        handle.status()
    assert not OutboxEntry.objects.filter(id=handle.id).exists()


def test_a_rolled_back_savepoint_drops_only_its_enqueues(actions: Any, order: Any, uid: str):
    from tests.djproject.shop.actions import send_receipt

    with transaction.atomic():
        kept = actions.enqueue(send_receipt, {"order_id": 1, "key": uid})
        with pytest.raises(RuntimeError), transaction.atomic():
            dropped = actions.enqueue(send_receipt, {"order_id": 2, "key": uid})
            raise RuntimeError("savepoint rollback")
    assert kept.info().params == {"order_id": 1, "key": uid}
    with pytest.raises(ActionNotFound):
        dropped.status()


def test_outside_a_transaction_it_publishes_at_once(actions: Any, uid: str) -> None:
    from tests.djproject.shop.actions import send_receipt

    handle = actions.enqueue(send_receipt, {"order_id": 3, "key": uid})
    assert handle.status() in PUBLISHED
    assert not OutboxEntry.objects.filter(id=handle.id).exists()


def test_with_the_setting_off_it_publishes_at_once(actions: Any, uid: str) -> None:
    from dataclasses import replace

    from tests.djproject.shop.actions import send_receipt

    saved = actions.hold.settings
    actions.hold.settings = replace(saved, on_commit=False)
    try:
        with transaction.atomic():
            handle = actions.enqueue(send_receipt, {"order_id": 4, "key": uid})
            assert handle.status() in PUBLISHED
    finally:
        actions.hold.settings = saved


def test_a_taken_id_in_a_transaction(actions: Any, uid: str) -> None:
    from tests.djproject.shop.actions import send_receipt
    from tests.djproject.shop.models import Customer

    params = {"order_id": 5, "key": uid}
    actions.enqueue(send_receipt, params, id=f"receipt-{uid}")
    with transaction.atomic():
        # taken in Redis: an error, or the existing action's handle with "ignore"
        with pytest.raises(DuplicateActionId):
            actions.enqueue(send_receipt, params, id=f"receipt-{uid}")
        same = actions.enqueue(send_receipt, params, id=f"receipt-{uid}", on_duplicate_id="ignore")
        assert same.id == f"receipt-{uid}"
        # taken in the same transaction: an error, and the transaction stays usable
        actions.enqueue(send_receipt, params, id=f"other-{uid}")
        with pytest.raises(DuplicateActionId):
            actions.enqueue(send_receipt, params, id=f"other-{uid}")
        again = actions.enqueue(send_receipt, params, id=f"other-{uid}", on_duplicate_id="ignore")
        assert again.id == f"other-{uid}"
        Customer.objects.create(email="still@usable.example")
    assert OutboxEntry.objects.filter(id=f"other-{uid}").count() == 1


def test_bulk_in_a_transaction(actions: Any, order: Any, uid: str) -> None:
    from tests.djproject.shop.actions import send_receipt, ship
    from tests.djproject.shop.models import Order

    for _ in range(4):
        Order.objects.create(customer=order.customer)
    with transaction.atomic():
        handles = actions.enqueue_many(ship, Order.objects.all(), {"id": f"ship-{uid}"})
        receipts = actions.enqueue_many(
            send_receipt, [{"order_id": i, "key": uid} for i in range(3)]
        )
        assert OutboxEntry.objects.filter(batch=f"ship-{uid}").count() == 5
        with pytest.raises(ActionNotFound):
            handles[0].status()
    assert [h.id for h in handles] == [f"ship-{uid}-{i}" for i in range(5)]
    ids = sorted(Order.objects.values_list("pk", flat=True))
    assert [h.info().params["id"] for h in handles] == ids
    assert [h.info().params["order_id"] for h in receipts] == [0, 1, 2]
    with pytest.raises(RuntimeError), transaction.atomic():
        dropped = actions.enqueue_many(ship, Order.objects.all())
        raise RuntimeError("rollback")
    with pytest.raises(ActionNotFound):
        dropped[0].status()


def test_committed_actions_run_once_and_the_pump_clears_the_outbox(
    actions: Any, order: Any, dj_worker: Any, r: Any, uid: str
) -> None:
    from tests.djproject.shop.actions import send_receipt

    # Given an action enqueued in a transaction that commits
    with transaction.atomic():
        handle = actions.enqueue(send_receipt, {"order_id": order.pk, "key": uid})
    # Then it runs, and a pump deletes its outbox row without publishing it again
    assert handle.result(timeout=20) == order.pk
    wait_for(lambda: not OutboxEntry.objects.filter(id=handle.id).exists(), 20, 0.05,
             "the pump to clear the outbox row")  # fmt: skip
    assert r.lrange(uid, 0, -1) == [str(order.pk)]
    assert handle.info().attempts == 1


KILLED_AFTER_COMMIT = """
import os, signal, sys
import django
django.setup()
from django.db import transaction
from tests.djproject.celery_app import actions
from tests.djproject.shop.actions import send_receipt
from tests.djproject.shop.models import Order

with transaction.atomic():
    order = Order.objects.get(pk=int(sys.argv[1]))
    # runs first after the commit: the process dies before it can publish
    transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))
    handle = actions.enqueue(send_receipt, {"order_id": order.pk, "key": sys.argv[2]})
    order.receipt_action = handle.id
    order.save()
"""


def test_a_process_killed_right_after_commit_loses_nothing(
    actions: Any, order: Any, start_dj_worker: Any, r: Any, uid: str
) -> None:
    # Given a process that commits an enqueue and is killed before it publishes
    env = {**os.environ, **worker_env(), "PYTHONPATH": str(REPO_ROOT)}
    code = textwrap.dedent(KILLED_AFTER_COMMIT)
    done = subprocess.run([sys.executable, "-c", code, str(order.pk), uid], env=env, timeout=60)
    assert done.returncode == -signal.SIGKILL
    order.refresh_from_db()
    action_id = order.receipt_action
    assert OutboxEntry.objects.filter(id=action_id).exists()
    with pytest.raises(ActionNotFound):
        actions.handle("tests.djproject.shop.actions.send_receipt", action_id).status()
    # When a worker runs (its pump relays the outbox)
    start_dj_worker()
    handle = actions.handle("tests.djproject.shop.actions.send_receipt", action_id)
    # Then the action runs, exactly once
    wait_for(lambda: not OutboxEntry.objects.filter(id=action_id).exists(), 30, 0.05,
             "the pump to relay the outbox row")  # fmt: skip
    assert handle.result(timeout=20) == order.pk
    assert r.lrange(uid, 0, -1) == [str(order.pk)]


@pytest.mark.django_db(transaction=False)
def test_a_test_case_transaction_publishes_with_captured_callbacks(
    actions: Any, django_capture_on_commit_callbacks: Any, uid: str
) -> None:
    from tests.djproject.shop.actions import send_receipt

    # Given a test wrapped in a transaction that never commits (Django's TestCase)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        handle = actions.enqueue(send_receipt, {"order_id": 6, "key": uid})
        with pytest.raises(ActionNotFound):
            handle.status()
    # Then running the captured on_commit callbacks publishes it
    assert len(callbacks) == 1
    assert handle.status() in PUBLISHED


def test_a_django_task_enqueued_in_atomic_waits_for_the_commit(actions: Any) -> None:
    from tests.djproject.shop.tasks import add

    with transaction.atomic():
        result = add.enqueue(1, 2)
        assert OutboxEntry.objects.filter(id=result.id).exists()
        with pytest.raises(ActionNotFound):
            actions.handle(add.module_path, result.id).status()
    # (a worker left running by another test may already have taken it)
    assert actions.handle(add.module_path, result.id).status() in PUBLISHED


def test_two_pumps_relaying_the_same_rows_run_each_action_once(
    actions: Any, start_dj_worker: Any, r: Any, uid: str
) -> None:
    from celery_actions.django.outbox import OutboxRow

    # Given 40 committed outbox rows whose processes died before publishing them
    name = "tests.djproject.shop.actions.send_receipt"
    rows = [OutboxRow(f"{uid}-{i}", name, f'{{"order_id":{i},"key":"{uid}"}}', "{}")
            for i in range(40)]  # fmt: skip
    actions.hold._write(rows, given_ids=True)
    # When two workers' pumps relay the outbox at once
    start_dj_worker()
    start_dj_worker()
    wait_for(lambda: not OutboxEntry.objects.filter(id__startswith=uid).exists(), 30, 0.05,
             "the pumps to relay the outbox")  # fmt: skip
    # Then every action runs exactly once
    handles = [actions.handle(name, row.id) for row in rows]
    assert [h.result(timeout=20) for h in handles] == list(range(40))
    assert sorted(map(int, r.lrange(uid, 0, -1))) == list(range(40))
