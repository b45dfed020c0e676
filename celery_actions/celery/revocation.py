"""Cancelling an action the way Celery's revoke does: the job record first (its slot goes
to the next waiting action at once, and no message of it may run), then the result
backend (``REVOKED``, so ``AsyncResult`` and ``result()`` see it, and a chord the action
belongs to fails, as Celery's own revoke makes it) and Flower (a ``task-revoked`` event).

Flower takes the sender of a task event other than ``task-sent`` for the worker running
the task, so the event always comes from a worker: directly when a worker cancels
(a revoke command, an expiry, a terminate), else through ``P announce``, a list that any
worker's pump empties on its next pass (a cancel from a producer or the shell).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from celery.app.task import Context

from ..core.protocol import CancelMode, Field
from ..redis.records import CancelOutcome
from .calls import decode

if TYPE_CHECKING:
    from .runtime import Runtime

ANNOUNCE_BATCH = 200
ANNOUNCE_KEEP = 100_000
"""The most events ``P announce`` holds while no worker runs (the oldest go first)."""


def context_of(job_id: str, record: Mapping[str, str] | None) -> Context:
    """A request context for the result backend: the job's canvas, so a chord it belongs
    to, its error links and the rest of its chain see an outcome recorded outside its run
    (a cancel, a worker lost too often)."""
    carried = decode((record or {}).get(Field.CELERY, ""))
    return Context(
        id=job_id,
        task=(record or {}).get(Field.ACTION),
        group=carried.get("group_id"),
        group_index=carried.get("group_index"),
        chord=carried.get("chord"),
        root_id=carried.get("root_id"),
        parent_id=carried.get("parent_id"),
        errbacks=carried.get("errbacks"),
        chain=carried.get("chain"),
    )


class Revocation:
    """Cancels actions and tells Celery."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def cancel(
        self,
        job_id: str,
        reason: str = "cancelled",
        *,
        mode: CancelMode = CancelMode.REQUEST,
        token: str = "",
        eventer: Any = None,
        request: Any = None,
        **event: Any,
    ) -> CancelOutcome:
        """Cancel a job (a running one as ``mode`` says); once cancelled, mark it revoked
        in the result backend and send ``task-revoked`` (``event`` fields: expired,
        terminated, signum), through ``eventer`` when a worker cancels."""
        outcome = self.runtime.dispatcher.cancel(job_id, reason, mode, token)
        if outcome == "cancelled":
            self.announce(job_id, reason, eventer=eventer, request=request, **event)
        return outcome

    def announce(
        self, job_id: str, reason: str, *, eventer: Any = None, request: Any = None, **event: Any
    ) -> None:
        """Tell the result backend and Flower that a job was cancelled."""
        runtime = self.runtime
        if request is None:
            request = context_of(job_id, runtime.store.record(job_id))
        runtime.app.backend.mark_as_revoked(job_id, reason, request=request, store_result=True)
        fields = {"terminated": False, "signum": None, "expired": False, "result": None, **event}
        if eventer is not None:
            eventer.send("task-revoked", uuid=job_id, **fields)
            return
        entry = json.dumps({"type": "task-revoked", "uuid": job_id, "fields": fields})
        key = runtime.store.keys.announce
        pipe = runtime.store.client.pipeline(transaction=False)
        pipe.rpush(key, entry)
        pipe.ltrim(key, -ANNOUNCE_KEEP, -1)
        pipe.execute()

    def relay(self, hostname: str) -> int:
        """Send, as worker ``hostname``, the events producers left in ``P announce`` (a
        worker's pump calls this on every pass); how many were sent."""
        runtime = self.runtime
        store = runtime.store
        entries = store.client.lpop(store.keys.announce, ANNOUNCE_BATCH)
        if not entries:
            return 0
        app = runtime.app
        with (
            app.connection_for_write() as connection,
            app.events.Dispatcher(connection, hostname=hostname) as eventer,
        ):
            for raw in entries:
                entry = json.loads(str(raw))
                eventer.send(entry["type"], uuid=entry["uuid"], **entry["fields"])
        return len(entries)
