"""A second Celery app of the test project whose results go to the database
(``django-db``, django-celery-results), under its own key prefix."""

from __future__ import annotations

import os

import redis
from celery import Celery

from celery_actions import Actions
from celery_actions.testing import wait_for

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.djproject.settings")

app = Celery("dbresults")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(result_backend="django-db", actions_key_prefix="dbres:")
actions = Actions(app)
r = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))


class Declined(Exception):
    """An error the tests expect back from result()."""


@actions.action
def double(n: int) -> int:
    return 2 * n


@actions.action(retries={"retryCount": 1, "initialInterval": 10})
def fail_then_wait(key: str, release: str) -> str:
    """The first attempt fails; the second waits for ``release`` before it returns."""
    if r.incr(key) == 1:
        raise ValueError("first attempt fails")
    wait_for(lambda: r.exists(release), timeout=20, what=f"{release} to exist")
    return "second attempt"


@actions.action(retries=0)
def decline(order_id: int) -> None:
    raise Declined(f"order {order_id} declined")
