"""The data the demo starts from, and the mix of actions it enqueues, each with the final
status it should reach."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import transaction

from celery_actions import ActionNotFound, ActionStatus, BackgroundActionHandle

from .celery_app import actions
from .shop.actions import charge_card, daily_report, send_email, send_receipt, sync_product
from .shop.models import Customer, Order, Product
from .shop.tasks import nightly_report_tick

SINGLE_PRODUCTS = (101, 102, 103, 104, 105, 106)
BULK_PRODUCTS = (201, 202, 203, 204)
CUSTOMERS = ("ann@example.com", "bob@example.org", "gus@example.net")
REPORT_DELAY_S = 4
CANCELLED_DELAY_S = 60


@dataclass(frozen=True, slots=True)
class Tracked:
    """An enqueued action the demo follows: a label, its handle, the status it should end in."""

    label: str
    handle: BackgroundActionHandle
    expect: ActionStatus = ActionStatus.COMPLETE


@dataclass(slots=True)
class Scenario:
    """Everything enqueued, plus notes on what the enqueue calls returned."""

    tracked: list[Tracked] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def by_label(self, prefix: str) -> Tracked:
        """The first tracked action whose label starts with ``prefix``."""
        return next(t for t in self.tracked if t.label.startswith(prefix))


def iso_z(moment: datetime) -> str:
    """An aware datetime as Gadget writes it: ``2026-04-03T12:00:00.000Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seed() -> None:
    """The products and customers the demo works on (created once)."""
    for supplier_id in (*SINGLE_PRODUCTS, *BULK_PRODUCTS):
        Product.objects.get_or_create(supplier_id=supplier_id)
    for email in CUSTOMERS:
        Customer.objects.get_or_create(email=email)


def place_order(customer: str, supplier_id: int, amount_cents: int) -> tuple[Order, str]:
    """Create an order and enqueue its receipt in one transaction (the receipt is published
    when the order commits; its id is saved on the order in the same transaction)."""
    with transaction.atomic():
        order = Order.objects.create(
            customer=Customer.objects.get(email=customer),
            product=Product.objects.get(supplier_id=supplier_id),
            amount_cents=amount_cents,
        )
        receipt = actions.enqueue(send_receipt, {"id": order})
        order.receipt_action = receipt.id
        order.save(update_fields=["receipt_action"])
    return order, receipt.id


def enqueue_mix(run_id: str) -> Scenario:
    """Enqueue the demo's actions; ``run_id`` keeps explicit ids unique across runs."""
    scenario = Scenario()
    track = scenario.tracked.append
    now = datetime.now(UTC)

    # A model action per product: the worker loads the Product by id. sync_product calls the
    # flaky supplier in the "supplier" queue (at most 2 at once, on any worker), retried
    # with backoff and jitter.
    for supplier_id in SINGLE_PRODUCTS:
        product = Product.objects.get(supplier_id=supplier_id)
        track(
            Tracked(f"sync_product {supplier_id}", actions.enqueue(sync_product, {"id": product}))
        )

    # A bulk enqueue over a queryset, streamed (ids sync-<run>-0..3).
    bulk = actions.enqueue_many(
        sync_product,
        Product.objects.filter(supplier_id__in=BULK_PRODUCTS),
        {"id": f"sync-{run_id}"},
    )
    for handle, supplier_id in zip(bulk, BULK_PRODUCTS, strict=True):
        track(Tracked(f"sync_product {supplier_id}", handle))

    # Orders: each receipt is enqueued inside the order's transaction.
    for customer, supplier_id, cents in (("ann@example.com", 101, 2400),
                                         ("bob@example.org", 102, 1250)):  # fmt: skip
        order, receipt_id = place_order(customer, supplier_id, cents)
        track(Tracked(f"send_receipt order {order.pk}", actions.handle(send_receipt, receipt_id)))
    # ... and an order whose transaction rolls back: its receipt never exists.
    try:
        with transaction.atomic():
            order = Order.objects.create(customer=Customer.objects.get(email="gus@example.net"),
                                         product=Product.objects.get(supplier_id=103),
                                         amount_cents=999)  # fmt: skip
            dropped = actions.enqueue(send_receipt, {"id": order})
            raise RuntimeError("payment page closed")
    except RuntimeError:
        pass
    try:
        dropped.status()
        scenario.notes.append("the rolled-back order's receipt exists: WRONG")
    except ActionNotFound:
        scenario.notes.append(
            f"order rolled back: its receipt {dropped.id[:8]} was never published (ActionNotFound)"
        )

    # The newsletter (low) is enqueued before the order confirmations (high), which still
    # jump the line: the worker's threads are busy with the syncs when they arrive.
    for to in ("cat@example.net", "dan@example.com"):
        params = {"to": to, "subject": "Tea of the month", "body": "Oolong is back."}
        track(Tracked(f"send_email {to}", actions.enqueue(send_email, params, priority="low")))
    for to in ("ann@example.com", "bob@example.org"):
        params = {"to": to, "subject": "Your order has shipped"}
        track(Tracked(f"send_email {to}", actions.enqueue(send_email, params, priority="high")))

    # An explicit id: enqueueing it again with onDuplicateID "ignore" returns the same handle.
    welcome = {"to": "eve@example.com", "subject": "Welcome!"}
    once = {"id": f"welcome-eve-{run_id}", "onDuplicateID": "ignore"}
    first = actions.enqueue(send_email, welcome, once)
    again = actions.enqueue(send_email, welcome, once)
    scenario.notes.append(
        f"duplicate id {first.id!r} with onDuplicateID 'ignore': same handle back: {again == first}"
    )
    track(Tracked("send_email eve@example.com", first))

    # The daily report, scheduled a few seconds ahead (Gadget's ISO string with Z).
    report_at = iso_z(now + timedelta(seconds=REPORT_DELAY_S))
    report = actions.enqueue(daily_report, {"day": now.date().isoformat()}, {"startAt": report_at})
    scenario.notes.append(f"daily_report scheduled for startAt {report_at}")
    track(Tracked("daily_report", report))
    # What beat runs every night at 02:00 (CELERY_BEAT_SCHEDULE), run once here: the report
    # of the day before, under the day as its id (a repeated tick makes no second report).
    report_id = nightly_report_tick()
    scenario.notes.append(f"the nightly beat tick, run once now, enqueued {report_id}")
    track(Tracked("daily_report (nightly)", actions.handle(daily_report, report_id)))

    # A reminder that is scheduled, then called off before it starts.
    reminder_at = iso_z(now + timedelta(seconds=CANCELLED_DELAY_S))
    reminder = actions.enqueue(
        send_email,
        {"to": "fay@example.com", "subject": "Your cart misses you"},
        {"startAt": reminder_at},
    )
    scenario.notes.append(f"scheduled reminder cancelled before it ran: {reminder.cancel()}")
    track(Tracked("send_email fay@example.com", reminder, ActionStatus.CANCELLED))

    # A payment the supplier always declines: retried once, then it fails for good.
    order = Order.objects.filter(customer__email="ann@example.com").latest("pk")
    charge = actions.enqueue(charge_card, {"id": order})
    track(Tracked(f"charge_card order {order.pk}", charge, ActionStatus.FAILED))
    return scenario
