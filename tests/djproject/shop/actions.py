"""The shop's actions: found by autodiscovery (``actions.py``). Each records what it did
in Redis (``events`` list), so tests can observe a run from outside."""

from __future__ import annotations

import os

import redis

from celery_actions.testing import wait_for
from tests.djproject.celery_app import actions

from .models import Order

r = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))


@actions.model_action(Order, retries=0)
def ship(record: Order, carrier: str = "ups") -> str:
    record.status = "shipped"
    record.carrier = carrier
    record.shipments += 1
    record.save()
    r.rpush(f"shipped:{record.pk}", carrier)
    return f"{record.pk} via {carrier}"


@actions.model_action(Order, lock="update", retries=0)
def hold_locked(record: Order, key: str, release: str) -> str:
    """Holds the row's lock until ``release`` exists."""
    r.rpush(key, "locked")
    wait_for(lambda: r.exists(release), timeout=20, what=f"{release} to exist")
    record.status = "held"
    record.save()
    return "held"


@actions.model_action(Order, lock="nowait", retries={"retryCount": 5, "initialInterval": 50})
def touch_nowait(record: Order, key: str) -> str:
    r.rpush(key, "ran")
    record.status = "touched"
    record.save()
    return "touched"


@actions.model_action(Order, lock="skip_locked", retries=0)
def touch_skip(record: Order, key: str) -> str:
    r.rpush(key, "ran")
    record.status = "touched"
    record.save()
    return "touched"


@actions.action(retries=0)
def send_receipt(order_id: int, key: str) -> int:
    r.rpush(key, order_id)
    return order_id


@actions.action(retries=0)
def mark_shipped(order_id: int) -> str:
    """The global-action twin of ``ship`` for the model-action benchmark."""
    record = Order.objects.get(pk=order_id)
    record.status = "shipped"
    record.shipments += 1
    record.save()
    return "ok"


@actions.action(browser=True, retries=0)
def greet(name: str) -> str:
    """A browser action."""
    return f"Hello, {name}!"


@actions.action(browser=True, retries=0)
def browser_fail(message: str) -> None:
    """A browser action that fails."""
    raise ValueError(message)


@actions.action(browser=True, retries=0)
def browser_hold(key: str, release: str) -> str:
    """A browser action that runs until ``release`` exists."""
    r.rpush(key, "started")
    wait_for(lambda: r.exists(release), timeout=20, what=f"{release} to exist")
    return "released"


@actions.action(browser="shop.change_order", retries=0)
def restricted(note: str) -> str:
    """A browser action for users with the change_order permission only."""
    return note
