"""ActionRequest: the worker-side request of an action message (Celery's custom request
class extension point), run in the worker's main process.

- A prefork pool child that dies while running an action (killed, out of memory) makes
  Celery requeue its message (``reject_on_worker_lost``); that message is stale by then.
  The attempt itself is dispatched again at once under a new token, instead of when its
  lease expires: the child is gone, so it no longer runs.
- A request Celery cancels (a cold shutdown: SIGQUIT or a second SIGTERM; a broker
  connection lost with ``worker_cancel_long_running_tasks_on_connection_loss``) has its
  pool process terminated without that callback: its attempt is dispatched again as soon
  as that process is gone (a watcher thread, and at the latest when this process exits).
- A hard time limit is a failed attempt under the retry policy: Celery's own handling
  (which would fail the action's chord and call its error links at once) sees no canvas.
- A message Celery revokes (``revoke``, an ``expires`` that passed, a terminate) cancels
  its action: the record first, then the result backend and ``task-revoked`` as Celery
  does. A copy revoked after its action finished or moved on is dropped quietly.
- A retry's ``task-retried`` event says when the next attempt is due (``eta``), and the
  ``task-started`` event clears the waiting reason Flower showed as the result.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from datetime import datetime
from typing import Any

from billiard.exceptions import WorkerLostError
from celery import signals
from celery.exceptions import TimeLimitExceeded
from celery.worker import state as worker_state
from celery.worker.request import Request

from ..core.protocol import TOKEN_HEADER, CancelMode
from .attempt import Attempt

logger = logging.getLogger("celery_actions")


class ActionRequest(Request):  # type: ignore[misc]
    """The request of an action message."""

    _canvas_held = False

    @property
    def token(self) -> str | None:
        """The message's dispatch token (None: sent without celery-actions)."""
        token = self.request_dict.get(TOKEN_HEADER)
        return None if token is None else str(token)

    @property
    def _context(self) -> Any:
        context = super()._context
        if self._canvas_held:  # Celery's failure handling must leave the canvas to us
            context.chord = context.chain = context.errbacks = context.callbacks = None
        return context

    def on_timeout(self, soft: bool, timeout: float) -> None:
        token = self.token
        if not soft and token is not None and not worker_state.should_terminate:
            try:
                Attempt(self.task).timed_out(token, TimeLimitExceeded(timeout), self._context)
            except Exception:
                logger.exception("celery-actions: could not record the time limit of %s", self.id)
            self._canvas_held = True
        super().on_timeout(soft, timeout)

    def on_failure(
        self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False
    ) -> Any:
        exc = getattr(exc_info, "exception", None)
        exc = getattr(exc, "exc", exc)  # billiard's ExceptionWithTraceback wraps it
        token = self.token
        if isinstance(exc, WorkerLostError) and token is not None:
            self._canvas_held = True  # the attempt runs again: not a failure of the canvas
            try:
                redispatched = self.task.runtime.dispatcher.abandon([(self.id, token)])
            except Exception:
                logger.exception("celery-actions: could not dispatch %s again", self.id)
            else:
                if redispatched.ids:
                    logger.warning(
                        "celery-actions: the pool process running %s was lost; dispatched again",
                        self.id,
                    )
                for job_id in redispatched.failed:
                    self.task.backend.mark_as_failure(
                        job_id, exc, request=super()._context, store_result=True
                    )
                for job_id in redispatched.cancelled:  # revoked while it ran
                    self.task.runtime.revocation.announce(
                        job_id, "cancelled", eventer=self._eventer, request=super()._context
                    )
        return super().on_failure(exc_info, send_failed_event, return_ok)

    def cancel(self, pool: Any, signal: Any = None, emit_retry: bool = True) -> None:
        token, pid, started = self.token, self.worker_pid, self.time_start
        super().cancel(pool, signal, emit_retry=emit_retry and token is None)
        if token is not None and started and pid and pid != os.getpid():
            dispatch_again_when_gone(self.task.runtime, [(self.id, token, int(pid))])

    def on_retry(self, exc_info: Any) -> None:
        retry = exc_info.exception
        if not hasattr(retry, "when"):  # wrapped (ExceptionWithTraceback)
            retry = getattr(retry, "exc", None)
        when = getattr(retry, "when", None)
        self._retry_eta = when.isoformat() if isinstance(when, datetime) else None
        super().on_retry(exc_info)

    def send_event(self, type: str, **fields: Any) -> None:
        if type == "task-retried" and getattr(self, "_retry_eta", None):
            fields["eta"] = self._retry_eta
        elif type == "task-started":
            fields.setdefault("result", None)  # the waiting reason shown until now
        super().send_event(type, **fields)

    def _announce_revoked(self, reason: str, terminated: bool, signum: Any, expired: bool) -> None:
        token = self.token
        if token is None:  # a message sent without celery-actions, never adopted
            super()._announce_revoked(reason, terminated, signum, expired)
            return
        mode = CancelMode.STOP if terminated else CancelMode.IDLE if expired else CancelMode.REQUEST
        try:
            outcome = self.task.runtime.revocation.cancel(
                self.id, reason, mode=mode, token=token, eventer=self._eventer,
                request=super()._context, expired=expired, terminated=terminated,
                signum=None if signum is None else int(signum),
            )  # fmt: skip
        except Exception:
            logger.exception("celery-actions: could not cancel %s (%s)", self.id, reason)
            outcome = "failed"
        if outcome == "cancelled":
            signals.task_revoked.send(
                sender=self.task, request=super()._context, terminated=terminated,
                signum=signum, expired=expired,
            )  # fmt: skip
        else:
            logger.info("celery-actions: dropped a %s message of %s (%s)", reason, self.id, outcome)
        worker_state.task_ready(self)
        self.acknowledge()
        self._already_revoked = True


def dispatch_again_when_gone(runtime: Any, attempts: list[tuple[str, str, int]]) -> None:
    """Dispatch these attempts (id, token, pool process id) again once their processes are
    gone, never while one still runs: watched by a thread, and when this process exits
    (a cold shutdown exits soon after it cancels). Dispatching again is idempotent by
    token, so the two never dispatch an attempt twice."""
    threading.Thread(
        target=_when_gone, args=(runtime, attempts), name="celery-actions-cut-short", daemon=True
    ).start()
    atexit.register(_when_gone, runtime, attempts)


def _when_gone(runtime: Any, attempts: list[tuple[str, str, int]], within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    pending, gone = list(attempts), []
    while pending and time.monotonic() < deadline:
        for attempt in list(pending):
            if not _alive(attempt[2]):
                pending.remove(attempt)
                gone.append(attempt[:2])
        if pending:
            time.sleep(0.05)
    if not gone:
        return  # still running after within_s: left to its lease
    try:
        redispatched = runtime.dispatcher.abandon(gone)
    except Exception:
        logger.exception("celery-actions: could not dispatch again %d attempt(s)", len(gone))
        return
    for job_id in redispatched.ids:
        logger.warning("celery-actions: %s was cancelled by Celery; dispatched again", job_id)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
