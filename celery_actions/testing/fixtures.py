"""Pytest fixtures: a real redis-server and real Celery worker processes.

Use them in your own project's tests
(``pytest_plugins = ["celery_actions.testing.fixtures"]``)::

    def test_welcome(redis_url, start_worker):
        start_worker("proj.celery", env={"REDIS_URL": redis_url})
        assert actions.enqueue(send_email, {"to": "a@b.c"}).result(timeout=10)

No stand-ins: the server is a real ``redis-server`` on a free port, the workers are
``celery -A <module> worker`` subprocesses.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .embedded import EmbeddedRedis
from .processes import CeleryProcess, WorkerProcess, wait_for

__all__ = [
    "CeleryProcess",
    "WorkerProcess",
    "redis_server",
    "redis_url",
    "start_celery",
    "start_worker",
    "wait_for",
]


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    """A private redis-server for the test session."""
    with EmbeddedRedis() as server:
        yield server


@pytest.fixture(scope="session")
def redis_url(redis_server: EmbeddedRedis) -> str:
    """The URL of the session's redis-server."""
    return redis_server.url


@pytest.fixture
def start_worker(redis_url: str) -> Iterator[Callable[..., WorkerProcess]]:
    """Start worker subprocesses; all are stopped at the end of the test."""
    started: list[WorkerProcess] = []

    def start(app_module: str, **kwargs: Any) -> WorkerProcess:
        kwargs.setdefault("name", f"w{len(started)}-{os.getpid()}-{time.monotonic_ns()}@test")
        kwargs.setdefault("redis_url", redis_url)
        worker = WorkerProcess(app_module, **kwargs)
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def start_celery(redis_url: str) -> Iterator[Callable[..., CeleryProcess]]:
    """Start other ``celery -A <app> <command>`` processes (``beat``, ``flower``); all are
    stopped at the end of the test. ``start_celery(app, command, *args, ready=..., env=...)``
    waits until ``ready(process)`` is true.
    """
    started: list[CeleryProcess] = []

    def start(app_module: str, command: str, *args: str, **kwargs: Any) -> CeleryProcess:
        ready = kwargs.pop("ready", None)
        kwargs.setdefault("redis_url", redis_url)
        process = CeleryProcess(app_module, command, *args, **kwargs)
        started.append(process)
        return process.start(ready)

    yield start
    for process in started:
        process.stop()
