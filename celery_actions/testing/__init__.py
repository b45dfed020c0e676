"""Test support with real parts: an embedded ``redis-server``, real Celery worker
processes, waiting on a condition with a deadline, and pytest fixtures built on them
(``pytest_plugins = ["celery_actions.testing.fixtures"]``)."""

from .embedded import EmbeddedRedis
from .processes import CeleryProcess, WorkerProcess, wait_for

__all__ = ["CeleryProcess", "EmbeddedRedis", "WorkerProcess", "wait_for"]
