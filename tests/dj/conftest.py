"""Fixtures of the Django tests: the test project's workers on the test database.

The database is SQLite (a file the workers share) unless ``DATABASE_URL`` names a
PostgreSQL server; when that server cannot be reached, every test here is skipped, saying
why.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from celery_actions.testing import WorkerProcess

DATABASE_URL = os.environ.get("DATABASE_URL", "")
POSTGRES = DATABASE_URL.startswith(("postgres://", "postgresql://"))


def _postgres_problem() -> str | None:
    if not POSTGRES:
        return None
    try:
        import psycopg

        psycopg.connect(DATABASE_URL, connect_timeout=3).close()
    except Exception as exc:
        return f"PostgreSQL at DATABASE_URL={DATABASE_URL} is not reachable: {exc}".strip()
    return None


PROBLEM = _postgres_problem()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if PROBLEM is None:
        return
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.skip(reason=PROBLEM))


needs_row_locks = pytest.mark.skipif(
    not POSTGRES, reason="SQLite has no row locks (SELECT ... FOR UPDATE); run with DATABASE_URL"
)


def worker_env() -> dict[str, str]:
    """What a worker needs to use the test database."""
    from django.db import connection

    return {
        "DJANGO_SETTINGS_MODULE": "tests.djproject.settings",
        "DJANGO_DB_NAME": str(connection.settings_dict["NAME"]),
        "DATABASE_URL": DATABASE_URL,
    }


@pytest.fixture(scope="module")
def dj_worker(
    redis_url: str, django_db_setup: Any, django_db_blocker: Any
) -> Iterator[WorkerProcess]:
    """A worker of the test project (threads) shared by a test module."""
    with django_db_blocker.unblock():
        env = worker_env()
    worker = WorkerProcess(
        "tests.djproject.celery_app",
        redis_url=redis_url,
        name=f"dj-{uuid.uuid4().hex[:6]}@test",
        concurrency=4,
        env=env,
    ).start()
    yield worker
    worker.stop()


@pytest.fixture
def start_dj_worker(
    redis_url: str, django_db_setup: Any, django_db_blocker: Any
) -> Iterator[Callable[..., WorkerProcess]]:
    """Start workers of a given app module on the test database (stopped after the test)."""
    started: list[WorkerProcess] = []

    def start(app_module: str = "tests.djproject.celery_app", **kwargs: Any) -> WorkerProcess:
        with django_db_blocker.unblock():
            env = {**worker_env(), **kwargs.pop("env", {})}
        worker = WorkerProcess(
            app_module, redis_url=redis_url, name=f"dj-{uuid.uuid4().hex[:6]}@test", env=env,
            **kwargs,
        )  # fmt: skip
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def actions() -> Any:
    from tests.djproject.celery_app import actions

    return actions


@pytest.fixture
def order(transactional_db: Any) -> Any:
    from tests.djproject.shop.models import Customer, Order

    customer = Customer.objects.create(email=f"{uuid.uuid4().hex[:6]}@example.com")
    return Order.objects.create(customer=customer)
