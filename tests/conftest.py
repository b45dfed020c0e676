from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

from celery_actions.redis.keys import Keys
from celery_actions.testing.embedded import EmbeddedRedis, free_port
from tests.helpers import Broker

pytest_plugins = ["celery_actions.testing.fixtures"]

# The session's Redis port is chosen before Django's settings are read (pytest-django sets
# Django up after this conftest is imported), so the test project's Celery app, its
# workers and the tests all use the redis-server the `redis_server` fixture starts.
REDIS_PORT = free_port()
os.environ["REDIS_URL"] = f"redis://127.0.0.1:{REDIS_PORT}/0"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.djproject.settings")
import django  # noqa: E402

django.setup()  # (pytest-django then only guards database access)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    """A private redis-server for the test session, on the port chosen above."""
    with EmbeddedRedis(REDIS_PORT) as server:
        yield server


@pytest.fixture(scope="session", autouse=True)
def _test_app_env(redis_url: str) -> Iterator[None]:
    """Point tests.app (imported here and by workers) at the session's Redis."""
    os.environ["REDIS_URL"] = redis_url
    yield


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        yield client  # closed after the test: no socket left for the garbage collector


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:12]


@pytest.fixture(scope="module")
def module_worker(redis_url: str) -> Iterator[object]:
    """One threads worker shared by a test module."""
    from celery_actions.testing import WorkerProcess

    os.environ["REDIS_URL"] = redis_url
    worker = WorkerProcess(
        "tests.app", redis_url=redis_url, name=f"mod-{uuid.uuid4().hex[:6]}@test", concurrency=4
    ).start()
    yield worker
    worker.stop()


@pytest.fixture
def tapp(redis_url: str):
    """The tests.app module, configured for the session's Redis."""
    os.environ["REDIS_URL"] = redis_url
    from tests import app

    return app


@pytest.fixture
def keys(tapp) -> Keys:
    """The Redis key names of tests.app's Actions (the default prefix)."""
    return tapp.actions.runtime.store.keys


@pytest.fixture
def broker(r: redis.Redis) -> Broker:
    """The messages Celery's Redis transport holds (queues and unacknowledged)."""
    return Broker(r)
