"""The pump: a thread in every worker's main process (no leader; each pass is one atomic
Lua call).

It dispatches due scheduled jobs and retry delays, reclaims the leases of lost workers
(their jobs run again, their queue slots return), looks for the messages of dispatched
jobs nobody claimed in time (dispatching again those the broker lost or a purge deleted),
admits waiting jobs into freed slots, sends the Flower events producers left for a worker
to send (``P announce``), and renews the leases of the actions this worker is running. (An
attempt whose prefork child dies is dispatched again at once by ``request.py``.) Every
``TRIM_EVERY_S`` it drops the index entries of records past their retention.

It sleeps until the next due entry or ``actions_pump_interval``, whichever is sooner, and
wakes early when a producer schedules something sooner than that. When the worker is told
to stop it drains: it only renews the leases of the actions still running, until the
last one ends, so a deploy never lets another worker start an action that still runs.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable

import redis

from ..errors import WorkerLost
from ..redis.outages import TRANSIENT, Outage
from .probe import BrokerProbe
from .revocation import context_of
from .runtime import Runtime

logger = logging.getLogger("celery_actions.worker")
PUMP_BATCH = 500
DRAIN_POLL_S = 0.2
TRIM_EVERY_S = 10.0
TRIM_BUDGET = 5000
"""Index entries one trim pass drops per index at most (a pass stays short)."""

Lease = tuple[str, str]
Leases = Callable[[], Iterable[Lease]]
"""The (id, token) of each action this worker is running."""


class Pump(threading.Thread):
    """The pump loop of one worker."""

    def __init__(self, runtime: Runtime, worker_name: str, leases: Leases) -> None:
        super().__init__(name="celery-actions-pump", daemon=True)
        self.runtime = runtime
        self.worker_name = worker_name
        self.leases = leases
        self.probe = BrokerProbe(
            runtime.app, runtime.priorities, runtime.settings.dispatch_timeout_s
        )
        self.stopping = threading.Event()
        self.draining = threading.Event()
        self._wake_client: redis.Redis | None = None
        self._trim_cursors = (0, 0)
        self._next_trim = 0.0

    def stop(self) -> None:
        """End the loop now (its current pass or sleep ends first)."""
        self.stopping.set()

    def drain(self) -> None:
        """Stop pumping; keep renewing leases until the last running action ends."""
        self.draining.set()

    def run(self) -> None:
        settings = self.runtime.settings
        renew_every = settings.lease_timeout_s / 3
        next_renew = 0.0
        outage = Outage()
        while not self.stopping.is_set():
            try:
                held = self._track()
                if self.draining.is_set() and not held:
                    break
                now = time.monotonic()
                if now >= next_renew:
                    self.renew(held)
                    self.runtime.store.heartbeat(self.worker_name)
                    next_renew = now + renew_every
                if self.draining.is_set():
                    self.stopping.wait(DRAIN_POLL_S)
                    continue
                wait = self.pump_once()
                outage.over()
                wait = min(wait, max(0.0, next_renew - time.monotonic()))
                if wait > 0:
                    self.sleep(wait)
            except TRANSIENT as exc:
                self.stopping.wait(outage.failed(exc))
            except Exception:
                logger.exception("celery-actions pump pass failed; retrying")
                self.stopping.wait(1.0)
        with contextlib.suppress(Exception):
            self.runtime.store.forget_worker(self.worker_name)

    def _track(self) -> set[Lease]:
        """The attempts this worker's pool is running now."""
        return set(self.leases())

    def pump_once(self) -> float:
        """One pass; returns how long to sleep before the next one."""
        runtime = self.runtime
        settings = runtime.settings
        found = runtime.dispatcher.pump(PUMP_BATCH)
        if found.stall_ms:
            logger.warning(
                "celery-actions: no pump pass for %.1fs (Redis stalled or down?); every lease "
                "was extended by that much",
                found.stall_ms / 1000,
            )
        self._mark_failed(found.failed)
        for job_id in found.cancelled:  # revoked while running, then its worker was lost
            runtime.revocation.announce(job_id, "cancelled")
        runtime.revocation.relay(self.worker_name)
        for hook in runtime.pump_hooks:
            try:
                hook()
            except Exception:
                logger.exception("celery-actions: pump hook %r failed", hook)
        self.trim()
        missing = self.probe.missing(found.suspects)
        if missing:
            for job_id in runtime.dispatcher.lost(missing).ids:
                logger.warning(
                    "celery-actions: the message of %s was lost in the broker; dispatched again",
                    job_id,
                )
        if len(found.dispatch.rows) >= PUMP_BATCH:
            return 0.0
        interval = settings.pump_interval_s
        if found.next_due_ms is None:
            return interval
        server_now_ms = found.dispatch.reserved - settings.ms(settings.outbox_timeout_s)
        return max(0.0, min(interval, (found.next_due_ms - server_now_ms) / 1000))

    def trim(self) -> None:
        """Drop index entries of expired records: every ``TRIM_EVERY_S``, and at each pass
        while a pass finds more than it may drop or names are left to go through."""
        now = time.monotonic()
        if now < self._next_trim:
            return
        done = self.runtime.store.trim(self._trim_cursors, TRIM_BUDGET)
        self._trim_cursors = done.cursors
        behind = done.removed >= TRIM_BUDGET or done.cursors != (0, 0)
        self._next_trim = now if behind else now + TRIM_EVERY_S

    def _mark_failed(self, job_ids: list[str]) -> None:
        """Jobs that failed for good because their worker died too often: FAILURE in the
        result backend, and their canvas failed (chord, error links, the rest of a chain)."""
        runtime = self.runtime
        for job_id in job_ids:
            runtime.app.backend.mark_as_failure(
                job_id,
                WorkerLost(f"worker lost while running {job_id}"),
                request=context_of(job_id, runtime.store.record(job_id)),
            )

    def sleep(self, seconds: float) -> None:
        """Sleep, waking early when a producer pushes to the wake list."""
        settings = self.runtime.settings
        if self._wake_client is None:
            self._wake_client = redis.Redis.from_url(
                settings.redis_url, socket_timeout=settings.pump_interval_s + 5
            )
        with contextlib.suppress(redis.TimeoutError):
            self._wake_client.blpop([self.runtime.store.keys.wake], timeout=max(seconds, 0.01))

    def renew(self, held: set[Lease]) -> None:
        """Renew the leases of the actions this worker's pool is running."""
        pairs = sorted(held)
        lost = Counter(self.runtime.store.renew(pairs))
        if lost:  # an attempt that ended meanwhile (its record compacted) is not lost
            still = {job_id for job_id, _ in self._track()}
            lost = Counter({job_id: n for job_id, n in lost.items() if job_id in still})
        tried = Counter(job_id for job_id, _ in pairs)
        for job_id, count in lost.items():
            if count == tried[job_id]:  # not merely a stale duplicate beside the real run
                logger.warning(
                    "celery-actions: lease of %s was reclaimed while it ran here "
                    "(was the worker stopped longer than actions_lease_timeout?)",
                    job_id,
                )
