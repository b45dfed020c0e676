"""The worker bootstep: a pump thread in every worker's main process.

The pump (no leader: every worker runs one, and each pass is one atomic Lua call):
dispatches due scheduled jobs and retry delays, reclaims expired leases (a killed worker's
jobs run again, its queue slots return), admits waiting jobs into freed queue slots, and
renews the leases of the actions this worker is running. It sleeps until the next due
entry or ``actions_pump_interval``, whichever is sooner, and wakes early when a producer
schedules something sooner than that.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import redis
from celery import Celery, bootsteps
from celery.signals import worker_ready
from celery.worker import state as worker_state

from . import scripts
from .celery_config import check_worker_settings, warn_all
from .dispatch import TOKEN_HEADER
from .errors import ConfigurationError, WorkerLost

if TYPE_CHECKING:
    from .actions import Actions

logger = logging.getLogger("celery_actions.worker")
PUMP_BATCH = 500


def check_redis(client: redis.Redis) -> list[str]:
    """Refuse an evicting Redis; returns warnings for merely risky settings."""
    try:
        policy = str(client.config_get("maxmemory-policy").get("maxmemory-policy", ""))
    except redis.ResponseError:
        return ["cannot read Redis maxmemory-policy (CONFIG disabled); make sure it is noeviction"]
    if policy.startswith("allkeys"):
        raise ConfigurationError(
            f"Redis maxmemory-policy is {policy!r}: it can evict celery-actions' leases and "
            "schedules, losing jobs and leaking queue slots. Set maxmemory-policy noeviction "
            "(or a volatile-* policy) on the Redis at actions_redis_url."
        )
    if policy.startswith("volatile"):
        return [
            f"Redis maxmemory-policy is {policy!r}: finished job records may be evicted "
            "before actions_retention; noeviction is safest"
        ]
    return []


class Pump(threading.Thread):
    """The pump loop of one worker."""

    def __init__(self, actions: Actions, worker_name: str) -> None:
        super().__init__(name="celery-actions-pump", daemon=True)
        self.actions = actions
        self.worker_name = worker_name
        self.stopping = threading.Event()
        self._wake_client: redis.Redis | None = None

    def stop(self) -> None:
        """Ask the loop to end (it wakes within a second)."""
        self.stopping.set()

    def run(self) -> None:
        settings = self.actions.settings
        renew_every = settings.lease_timeout_s / 3
        next_renew = 0.0
        while not self.stopping.is_set():
            try:
                now = time.monotonic()
                if now >= next_renew:
                    self.renew()
                    self.heartbeat()
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
        actions = self.actions
        found = actions.store.pump(PUMP_BATCH)
        actions.publisher.publish(found.dispatch)
        backend = actions.app.backend
        for job_id in found.failed:
            backend.mark_as_failure(job_id, WorkerLost(f"worker lost while running {job_id}"))
        if len(found.dispatch.rows) >= PUMP_BATCH:
            return 0.0
        interval = actions.settings.pump_interval_s
        if found.next_due_ms is None:
            return interval
        server_now_ms = found.dispatch.reserved - actions.settings.ms(
            actions.settings.outbox_timeout_s
        )
        return max(0.0, min(interval, (found.next_due_ms - server_now_ms) / 1000))

    def sleep(self, seconds: float) -> None:
        """Sleep, waking early when a producer pushes to the wake list."""
        if self._wake_client is None:
            self._wake_client = redis.Redis.from_url(
                self.actions.settings.redis_url,
                socket_timeout=self.actions.settings.pump_interval_s + 5,
            )
        with contextlib.suppress(redis.TimeoutError):
            self._wake_client.blpop([self.actions.store.keys.wake], timeout=max(seconds, 0.01))

    def renew(self) -> None:
        """Renew the leases of the actions this worker's pool is running."""
        names = self.actions.registered
        leases: list[tuple[str, str]] = []
        for request in list(worker_state.active_requests):
            if request.name in names:
                token = request.request_dict.get(TOKEN_HEADER)
                if token is not None:
                    leases.append((request.id, str(token)))
        _, lost = self.actions.store.renew(leases)
        for job_id in lost:
            logger.warning(
                "celery-actions: lease of %s was reclaimed while it ran here "
                "(was the worker stalled longer than actions_lease_timeout?)",
                job_id,
            )

    def heartbeat(self) -> None:
        """Record this worker as alive (for ``celery actions``)."""
        client = self.actions.store.client
        client.zadd(self.actions.store.keys.workers, {self.worker_name: int(time.time() * 1000)})


class ActionsStep(bootsteps.StartStopStep):  # type: ignore[misc]
    """Starts the pump in the worker's main process, after the pool."""

    label = "celery-actions"
    requires = ("celery.worker.components:Pool",)

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.pump: Pump | None = None

    def start(self, worker: Any) -> None:
        actions: Actions = worker.app.celery_actions
        client = actions.store.client
        problems = check_redis(client) + check_worker_settings(
            worker.app, actions.settings.lease_timeout_s
        )
        warn_all(problems)
        scripts.ensure_loaded(client)
        self.pump = Pump(actions, worker.hostname)
        self.pump.start()

    def stop(self, worker: Any) -> None:
        if self.pump is not None:
            self.pump.stop()
            self.pump.join(timeout=5)
            client = self.pump.actions.store.client
            client.zrem(self.pump.actions.store.keys.workers, self.pump.worker_name)


def _on_worker_ready(sender: Any = None, **kwargs: Any) -> None:
    actions = getattr(getattr(sender, "app", None), "celery_actions", None)
    if actions is not None:
        actions.store.client.zadd(
            actions.store.keys.workers, {sender.hostname: int(time.time() * 1000)}
        )


def install(app: Celery, actions: Actions) -> None:
    """Add the bootstep to the app's workers."""
    app.steps["worker"].add(ActionsStep)
    worker_ready.connect(_on_worker_ready, weak=False)
