"""State changes that dispatch jobs, each followed by publishing what it dispatched.

A store call that admits or re-dispatches jobs returns a :class:`Dispatch`: messages to
publish through kombu, with an outbox reservation in Redis until the broker has them.
:class:`Dispatcher` is the one place that makes such a call and then publishes. A publish
that fails is logged and left to the outbox: the pump sends it again once the
reservation lapses (``actions_outbox_timeout``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ..core.protocol import CancelMode, EnqueueOutcome, QueueOp
from ..core.ratelimit import RateLimit
from ..redis.records import (
    AttemptOutcome,
    CancelOutcome,
    Dispatch,
    Enqueued,
    Finished,
    NewJob,
    OnDuplicate,
    PumpPass,
    Redispatched,
    RetryOutcome,
    Suspect,
)
from ..redis.store import Store
from ..redis.writer import EnqueueWriter, PendingEnqueue
from .publisher import Publisher

logger = logging.getLogger("celery_actions")


class Dispatcher:
    """Changes job state in Redis and publishes the messages each change dispatches."""

    def __init__(self, store: Store, writer: EnqueueWriter, publisher: Publisher) -> None:
        self.store = store
        self.writer = writer
        self.publisher = publisher

    def publish(self, dispatch: Dispatch) -> None:
        """Send a dispatch's messages and confirm them; on failure the outbox has them."""
        if not dispatch.rows:
            return
        try:
            self.publisher.publish(dispatch)
        except Exception:
            logger.exception(
                "celery-actions: publishing %d message(s) failed; the pump sends them again "
                "once their outbox reservation lapses",
                len(dispatch.rows),
            )

    def enqueue(
        self,
        jobs: Sequence[NewJob],
        on_duplicate: OnDuplicate,
        rate: RateLimit | None = None,
        sent_event: tuple[str, str] = ("", ""),
    ) -> list[EnqueueOutcome]:
        """Write new jobs, publish what they dispatched; each job's outcome."""
        return self._published(jobs, self.writer.enqueue(jobs, on_duplicate, rate, sent_event))

    def complete(self, jobs: Sequence[NewJob], pending: PendingEnqueue) -> list[EnqueueOutcome]:
        """Read the reply of jobs sent with ``writer.send`` and publish what they
        dispatched."""
        return self._published(jobs, pending.result())

    def _published(self, jobs: Sequence[NewJob], enqueued: Enqueued) -> list[EnqueueOutcome]:
        self.publish(enqueued.dispatch)
        scheduled = [
            job
            for job, outcome in zip(jobs, enqueued.outcomes, strict=True)
            if outcome is EnqueueOutcome.SCHEDULED and job.start_at_ms is not None
            and not job.envelope
        ]  # fmt: skip
        if scheduled:  # enqueue.lua published the sent events of the others
            self.publisher.announce_scheduled(scheduled)
        waiting = [
            job.id
            for job, outcome in zip(jobs, enqueued.outcomes, strict=True)
            if outcome is EnqueueOutcome.WAITING
        ]
        if waiting:
            self.announce_waiting(waiting)
        return enqueued.outcomes

    def announce_waiting(self, job_ids: Sequence[str]) -> None:
        """Tell Flower why these actions wait (a failure to is logged, never raised)."""
        try:
            self.publisher.announce_waiting(job_ids)
        except Exception:
            logger.exception(
                "celery-actions: could not announce %d waiting action(s)", len(job_ids)
            )

    def cancel(
        self,
        action_id: str,
        reason: str = "",
        mode: CancelMode = CancelMode.REQUEST,
        token: str = "",
    ) -> CancelOutcome:
        """Cancel a job that has not started (a running one as ``mode`` says); a freed
        slot admits the next at once."""
        cancelled = self.store.cancel(action_id, reason, mode, token)
        self.publish(cancelled.dispatch)
        return cancelled.outcome

    def finish(self, action_id: str, token: str, attempt: AttemptOutcome) -> Finished:
        """Record an attempt's outcome; the freed slot admits the next at once."""
        finished = self.store.finish(action_id, token, attempt)
        self.publish(finished.dispatch)
        return finished

    def cancel_many(self, action_ids: Sequence[str]) -> list[CancelOutcome]:
        """:meth:`cancel` of many actions, pipelined; freed slots admit the next."""
        done = self.store.cancel_many(action_ids)
        for cancelled in done:
            self.publish(cancelled.dispatch)
        return [cancelled.outcome for cancelled in done]

    def retry_now(self, action_ids: Sequence[str]) -> list[RetryOutcome]:
        """An operator's "retry now" of many actions (see ``Store.retry_now``)."""
        done = self.store.retry_now(action_ids)
        for again in done:
            self.publish(again.dispatch)
        return [again.outcome for again in done]

    def queue_admin(self, group: str, op: QueueOp, limit: int = 0) -> None:
        """An operator's change to a named queue; what it admits is published."""
        self.publish(self.store.queue_admin(group, op, limit))

    def pump(self, batch: int) -> PumpPass:
        """One pump pass, its dispatches published."""
        found = self.store.pump(batch)
        self.publish(found.dispatch)
        if found.waited:
            self.announce_waiting(found.waited)
        return found

    def lost(self, suspects: Sequence[Suspect]) -> Redispatched:
        """Dispatch again jobs whose message the broker lost."""
        redispatched = self.store.lost(suspects)
        self.publish(redispatched.dispatch)
        return redispatched

    def abandon(self, attempts: Sequence[tuple[str, str]]) -> Redispatched:
        """Dispatch again attempts a worker's pool stopped running without an outcome."""
        redispatched = self.store.abandon(attempts)
        self.publish(redispatched.dispatch)
        return redispatched
