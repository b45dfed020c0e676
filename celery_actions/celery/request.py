"""ActionRequest: the worker-side request of an action message (Celery's custom request
class extension point), run in the worker's main process.

- A prefork pool child that dies while running an action (killed, out of memory) makes
  Celery requeue its message (``reject_on_worker_lost``); that message is stale by then.
  The attempt itself is dispatched again at once under a new token, instead of when its
  lease expires: the child is gone, so it no longer runs.
- A request Celery cancels (a cold shutdown: SIGQUIT, or Ctrl+C twice; a broker
  connection lost with ``worker_cancel_long_running_tasks_on_connection_loss``) has its
  prefork pool process terminated without that callback: its attempt is dispatched again
  as soon as that process is gone (a watcher thread, and at the latest when this process
  exits; one still alive 10 s on is left to its lease).
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
from collections.abc import Callable
from datetime import datetime
from typing import Any

from billiard.exceptions import WorkerLostError
from celery import signals
from celery.concurrency.prefork import TaskPool as PreforkPool
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
            self._dispatch_again(token, exc, "the pool process running it was lost")
        return super().on_failure(exc_info, send_failed_event, return_ok)

    def _dispatch_again(self, token: str, exc: BaseException, why: str) -> None:
        """Dispatch this attempt again (its process no longer runs it); one lost too often
        fails, one cancelled meanwhile is announced, as the pump does for expired leases."""
        try:
            redispatched = self.task.runtime.dispatcher.abandon([(self.id, token)])
        except Exception:
            logger.exception("celery-actions: could not dispatch %s again", self.id)
            return
        if redispatched.ids:
            logger.warning("celery-actions: %s: %s; dispatched again", self.id, why)
        for job_id in redispatched.failed:
            self.task.backend.mark_as_failure(
                job_id, exc, request=super()._context, store_result=True
            )
        for job_id in redispatched.cancelled:  # revoked while it ran
            self.task.runtime.revocation.announce(
                job_id, "cancelled", eventer=self._eventer, request=super()._context
            )

    def cancel(self, pool: Any, signal: Any = None, **kwargs: Any) -> None:
        token, pid, started = self.token, self.worker_pid, self.time_start
        if token is not None and "emit_retry" in kwargs:  # (Celery 5.5+)
            kwargs["emit_retry"] = False  # the action's own record says what happens next
        super().cancel(pool, signal, **kwargs)
        if token is not None and started and pid and isinstance(pool, PreforkPool):
            when_gone(int(pid), lambda: self._dispatch_again(
                token, WorkerLostError("cancelled by Celery"), "cancelled by Celery"
            ))  # fmt: skip

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


_watched: dict[int, list[Callable[[], None]]] = {}
"""Pool process id -> what to do once it is gone (see :func:`when_gone`)."""
_watched_lock = threading.Lock()
_exit_hook: list[bool] = []  # one atexit registration per process


def when_gone(pid: int, then: Callable[[], None]) -> None:
    """Call ``then`` once the pool process ``pid`` is gone, never while it still exists:
    a watcher thread looks for 10 s, and whatever is still pending when this process exits
    (a cold shutdown exits soon after it cancels) is done then. A process still alive
    after that is left to its lease."""
    with _watched_lock:
        _watched.setdefault(pid, []).append(then)
        register = not _exit_hook
        _exit_hook.append(True)
    if register:
        atexit.register(_settle, 10.0)
    threading.Thread(target=_settle, args=(10.0, pid), daemon=True,
                     name="celery-actions-cut-short").start()  # fmt: skip


def _settle(within_s: float, only: int | None = None) -> None:
    deadline = time.monotonic() + within_s
    while True:
        with _watched_lock:
            pids = [p for p in _watched if only is None or p == only]
            gone = [p for p in pids if not _alive(p)]
            due = [then for p in gone for then in _watched.pop(p)]
        for then in due:
            then()
        if len(gone) == len(pids) or time.monotonic() >= deadline:
            return
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True
