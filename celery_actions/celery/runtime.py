"""What an ``Actions`` facade runs on, built once from the Celery app's settings and
passed to the tasks, the pump and the handles (nothing looks it up through the app)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING

from celery import Celery

from ..core.priority import Priority
from ..core.ratelimit import RateLimit
from ..core.settings import Settings
from ..redis.connection import ProcessClient
from ..redis.store import Store
from ..redis.writer import EnqueueWriter
from .config import broker_priorities
from .dispatcher import Dispatcher
from .envelopes import Envelopes
from .publisher import Publisher
from .results import ResultWriter
from .revocation import Revocation

if TYPE_CHECKING:
    from .task import ActionTask


class Runtime:
    """Settings, the Redis store and writer, the dispatcher and the message builders of one
    Celery app. Parts are built on first use (a worker's pool child builds its own Redis
    client)."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        self.tasks: dict[str, ActionTask] = {}
        """The actions declared on this app, by task name."""
        self.pump_hooks: list[Callable[[], object]] = []
        """Called by every worker's pump on each pass (an integration's relay, such as the
        Django transactional outbox). An exception is logged and the pass goes on."""

    @cached_property
    def settings(self) -> Settings:
        """Settings, read from ``app.conf`` on first use."""
        return Settings.from_conf(self.app.conf)

    @cached_property
    def client(self) -> ProcessClient:
        """The Redis client of each process."""
        return ProcessClient(self.settings.redis_url)

    @cached_property
    def store(self) -> Store:
        """Job records and their state changes."""
        return Store(self.settings, self.client)

    @cached_property
    def writer(self) -> EnqueueWriter:
        """Writes new jobs."""
        return EnqueueWriter(self.settings, self.client)

    @cached_property
    def priorities(self) -> dict[Priority, int]:
        """Our priorities as the broker's message priorities (the one place they are
        computed; the publisher and the envelope builder both use these)."""
        return broker_priorities(self.app)

    @cached_property
    def dispatcher(self) -> Dispatcher:
        """State changes followed by publishing what they dispatched."""
        return Dispatcher(self.store, self.writer, Publisher(self.app, self.store, self.priorities))

    @cached_property
    def revocation(self) -> Revocation:
        """Cancels actions and tells the result backend and Flower."""
        return Revocation(self)

    @cached_property
    def envelopes(self) -> Envelopes | None:
        """The Redis broker fast path, when the broker allows it."""
        return Envelopes.for_app(self.app, self.settings.redis_url, self.priorities)

    @cached_property
    def result_writer(self) -> ResultWriter | None:
        """Writes result metas inside finish.lua, when the result backend is this Redis."""
        return ResultWriter.for_app(self.app, self.settings.redis_url)

    @cached_property
    def rate_limit(self) -> RateLimit | None:
        """The enqueue rate limit, if one is set."""
        s = self.settings
        return RateLimit.parse(s.enqueue_rate_limit, s.enqueue_burst, s.environment)
