"""The shop's actions (found by the Django app's autodiscovery of ``actions.py``). Each one
raises on failure, and celery-actions retries it.

- ``sync_product``: a model action on Product; calls the flaky, rate-limited supplier API
  in the ``supplier`` queue (at most 2 at once, across every worker).
- ``send_receipt``: a model action on Order, enqueued inside the order's transaction.
- ``charge_card``: a model action on Order; the supplier declines every card.
- ``send_email``, ``daily_report``: global actions (the report runs nightly, by beat).

Configuration comes from the environment, read when an action runs (so a worker picks up
what the process that started it set):

- ``SUPPLIER_API_URL``: base URL of the supplier API [http://127.0.0.1:8000].
- ``OUTBOX_DIR``: where emails (``*.eml``) and reports (``reports/``) are written
  [``example_project/outbox/``].
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from celery import current_task
from django.utils import timezone

from example_project.celery_app import actions

from .models import Order, Product

DEFAULT_OUTBOX_DIR = Path(__file__).resolve().parent.parent / "outbox"
DEFAULT_SUPPLIER_API_URL = "http://127.0.0.1:8000"
HTTP_TIMEOUT_S = 5.0
SHOP_ADDRESS = "shop@example.com"


class SupplierError(Exception):
    """The supplier API answered with an HTTP error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message

    def __str__(self) -> str:
        return f"HTTP {self.status}: {self.message}"


class RateLimited(SupplierError):
    """HTTP 429: the supplier API wants us to slow down."""


class PaymentDeclined(SupplierError):
    """HTTP 402: the card was declined."""


def supplier_api_url() -> str:
    """Base URL of the supplier API (env ``SUPPLIER_API_URL``)."""
    return (os.environ.get("SUPPLIER_API_URL") or DEFAULT_SUPPLIER_API_URL).rstrip("/")


def outbox_dir() -> Path:
    """The file outbox (env ``OUTBOX_DIR``)."""
    return Path(os.environ.get("OUTBOX_DIR") or DEFAULT_OUTBOX_DIR)


def call_supplier(method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
    """One HTTP call to the supplier API; returns the JSON body, raises on non-2xx."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        supplier_api_url() + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        with exc:
            message = _error_message(exc.read())
        error = {429: RateLimited, 402: PaymentDeclined}.get(exc.code, SupplierError)
        raise error(exc.code, message) from None


def _error_message(body: bytes) -> str:
    try:
        return str(json.loads(body).get("message", ""))
    except (ValueError, AttributeError):
        return body.decode(errors="replace")[:200]


def _action_id() -> str:
    """The running action's id (stable across its retries), or a fresh one."""
    request = getattr(current_task, "request", None)
    return str(getattr(request, "id", None) or uuid.uuid4().hex)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)


SUPPLIER_RETRIES = {
    "retryCount": 8,
    "initialInterval": 300,
    "maxInterval": 2000,
    "backoffFactor": 2,
    "randomizeInterval": True,
}
"""Enough retries that a product sync outlives the API's random 500s and its 429s."""
SUPPLIER_QUEUE = {"name": "supplier", "maxConcurrency": 2}


@actions.model_action(Product, retries=SUPPLIER_RETRIES, queue=SUPPLIER_QUEUE)
def sync_product(record: Product) -> dict[str, Any]:
    """Fetch a product from the supplier and save it; a 500 or 429 raises, so the action is
    retried. At most 2 syncs call the supplier at once, on any number of workers."""
    product: dict[str, Any] = call_supplier("GET", f"/products/{record.supplier_id}")
    record.name = product["name"]
    record.stock = product["stock"]
    record.synced_at = timezone.now()
    record.save()
    return {"id": product["id"], "name": product["name"], "stock": product["stock"]}


@actions.model_action(Order)
def send_receipt(record: Order) -> str:
    """The order's receipt email (enqueued inside the transaction that creates the order)."""
    body = f"Thank you! Order {record.pk}: {record.product}, {record.amount_cents / 100:.2f} EUR."
    return send_email.run(to=record.customer.email, subject="Your receipt", body=body)


@actions.action
def send_email(to: str, subject: str, body: str = "") -> str:
    """Write the email as an ``.eml`` file into the outbox; returns its path.

    The file is named after the action id, so a retried or re-delivered action rewrites
    the same email instead of sending a second one.
    """
    message = EmailMessage()
    message["From"] = SHOP_ADDRESS
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message.set_content(body or f"{subject}\n\n-- The Tea Shop")
    path = outbox_dir() / f"{_action_id()}.eml"
    _write_atomically(path, bytes(message))
    return str(path)


@actions.action
def daily_report(day: str) -> dict[str, Any]:
    """Count the emails in the outbox and write ``reports/report-<day>.json``."""
    report_day = date.fromisoformat(day)
    by_recipient_domain: dict[str, int] = {}
    emails = sorted(outbox_dir().glob("*.eml"))
    for path in emails:
        with path.open("rb") as handle:
            to = next((line for line in handle if line.lower().startswith(b"to:")), b"")
        domain = to.decode(errors="replace").rpartition("@")[2].strip() or "?"
        by_recipient_domain[domain] = by_recipient_domain.get(domain, 0) + 1
    report = {
        "day": report_day.isoformat(),
        "emails_in_outbox": len(emails),
        "by_recipient_domain": dict(sorted(by_recipient_domain.items())),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    path = outbox_dir() / "reports" / f"report-{report_day.isoformat()}.json"
    _write_atomically(path, json.dumps(report, indent=2).encode())
    return {**report, "path": str(path)}


@actions.model_action(Order, retries={"retryCount": 1, "initialInterval": 500})
def charge_card(record: Order) -> dict[str, Any]:
    """Charge an order's card. The supplier's payment endpoint always declines (402)."""
    charge: dict[str, Any] = call_supplier(
        "POST", "/charges", {"order_id": record.pk, "amount_cents": record.amount_cents}
    )
    return charge
