"""The pump: a thread in every worker's main process (no leader; each pass is one atomic
Lua call).

It dispatches due scheduled jobs and retry delays, reclaims expired leases (a killed
worker's jobs run again, their queue slots return), admits waiting jobs into freed slots,
and renews the leases of the actions this worker is running. It sleeps until the next due
entry or ``actions_pump_interval``, whichever is sooner, and wakes early when a producer
schedules something sooner than that.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable

import redis

from ..errors import WorkerLost
from .runtime import Runtime

logger = logging.getLogger("celery_actions.worker")
PUMP_BATCH = 500

Leases = Callable[[], Iterable[tuple[str, str]]]
"""The (id, token) of each action this worker is running."""


class Pump(threading.Thread):
    """The pump loop of one worker."""

    def __init__(self, runtime: Runtime, worker_name: str, leases: Leases) -> None:
        super().__init__(name="celery-actions-pump", daemon=True)
        self.runtime = runtime
        self.worker_name = worker_name
        self.leases = leases
        self.stopping = threading.Event()
        self._wake_client: redis.Redis | None = None

    def stop(self) -> None:
        """Ask the loop to end; it ends once its current pass or sleep does (at most
        ``actions_pump_interval``)."""
        self.stopping.set()

    def run(self) -> None:
        settings = self.runtime.settings
        renew_every = settings.lease_timeout_s / 3
        next_renew = 0.0
        while not self.stopping.is_set():
            try:
                now = time.monotonic()
                if now >= next_renew:
                    self.renew()
                    self.runtime.store.heartbeat(self.worker_name)
                    next_renew = now + renew_every
                wait = self.pump_once()
                wait = min(wait, max(0.0, next_renew - time.monotonic()))
                if wait > 0:
                    self.sleep(wait)
            except Exception:
                logger.exception("celery-actions pump pass failed; retrying")
                self.stopping.wait(1.0)

    def pump_once(self) -> float:
        """One pass; returns how long to sleep before the next one."""
        runtime = self.runtime
        settings = runtime.settings
        found = runtime.dispatcher.pump(PUMP_BATCH)
        backend = runtime.app.backend
        for job_id in found.failed:
            backend.mark_as_failure(job_id, WorkerLost(f"worker lost while running {job_id}"))
        if len(found.dispatch.rows) >= PUMP_BATCH:
            return 0.0
        interval = settings.pump_interval_s
        if found.next_due_ms is None:
            return interval
        server_now_ms = found.dispatch.reserved - settings.ms(settings.outbox_timeout_s)
        return max(0.0, min(interval, (found.next_due_ms - server_now_ms) / 1000))

    def sleep(self, seconds: float) -> None:
        """Sleep, waking early when a producer pushes to the wake list."""
        settings = self.runtime.settings
        if self._wake_client is None:
            self._wake_client = redis.Redis.from_url(
                settings.redis_url, socket_timeout=settings.pump_interval_s + 5
            )
        with contextlib.suppress(redis.TimeoutError):
            self._wake_client.blpop([self.runtime.store.keys.wake], timeout=max(seconds, 0.01))

    def renew(self) -> None:
        """Renew the leases of the actions this worker's pool is running."""
        for job_id in self.runtime.store.renew(list(self.leases())):
            logger.warning(
                "celery-actions: lease of %s was reclaimed while it ran here "
                "(was the worker stalled longer than actions_lease_timeout?)",
                job_id,
            )
