"""The mix of actions the demo enqueues, each with the final status it should reach."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from celery_actions import ActionStatus, BackgroundActionHandle

from .celery_app import actions
from .shop_actions import charge_card, daily_report, send_email, sync_product

SUPPLIER_RETRIES = {
    "retryCount": 8,
    "initialInterval": 300,
    "maxInterval": 2000,
    "backoffFactor": 2,
    "randomizeInterval": True,
}
"""Enough retries that a product sync outlives the API's random 500s and its 429s."""
SUPPLIER_QUEUE = {"name": "supplier", "maxConcurrency": 2}
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


def enqueue_mix(run_id: str) -> Scenario:
    """Enqueue the demo's actions; ``run_id`` keeps explicit ids unique across runs."""
    scenario = Scenario()
    track = scenario.tracked.append
    now = datetime.now(UTC)

    # Flaky supplier calls in the shared default queue, retried with backoff and jitter.
    for product_id in (101, 102, 103, 104, 105, 106):
        handle = actions.enqueue(
            sync_product, {"product_id": product_id}, {"retries": SUPPLIER_RETRIES}
        )
        track(Tracked(f"sync_product {product_id}", handle))

    # A bulk enqueue into a named queue: at most 2 of them run at once, on any worker.
    bulk = actions.enqueue_many(
        sync_product,
        [{"product_id": product_id} for product_id in (201, 202, 203, 204)],
        {"queue": SUPPLIER_QUEUE, "retries": SUPPLIER_RETRIES},
    )
    for handle, product_id in zip(bulk, (201, 202, 203, 204), strict=True):
        track(Tracked(f"sync_product {product_id}", handle))

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
    charge = actions.enqueue(charge_card, {"order_id": 9001, "amount_cents": 4200})
    track(Tracked("charge_card order 9001", charge, ActionStatus.FAILED))
    return scenario
