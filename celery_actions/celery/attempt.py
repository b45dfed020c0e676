"""One attempt of an action on a worker: claim, run, record the outcome.

The claim (one Lua call) checks the message's token: a stale message (a broker
redelivery, or a dispatch superseded after a lost lease) is dropped with ``Ignore``.
A failed attempt is retried or not as :func:`core.retry.decide` says; a retry is reported
to Celery as ``Retry`` (Flower shows it retried), the final failure re-raises the action's
own error. The outcome and the result meta are written in one call when the result
backend is this Redis (see ``results.py``), so the backend never disagrees with the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from traceback import format_exception
from typing import TYPE_CHECKING, Any

from celery import states
from celery.app.task import Context
from celery.exceptions import Ignore, Reject, Retry
from kombu.utils.json import dumps as kombu_dumps

from ..core.protocol import ActionStatus, Field, Outcome
from ..core.retry import RetryDecision, RetrySchedule, decide
from ..errors import InvalidParams
from ..redis.outages import TRANSIENT, retrying
from ..redis.records import AttemptOutcome, Claim, ClaimRefused, Finished
from . import canvas
from .retry_tools import RetryRequested, from_retry

if TYPE_CHECKING:
    from .task import ActionTask

logger = logging.getLogger("celery_actions")
_HOST = socket.gethostname()
_STATUS_OF_OUTCOME = {
    Outcome.COMPLETE: ActionStatus.COMPLETE,
    Outcome.RETRY: ActionStatus.RETRYING,
    Outcome.FAILED: ActionStatus.FAILED,
}
_STATE_OF_STATUS = {
    ActionStatus.COMPLETE: states.SUCCESS,
    ActionStatus.RETRYING: states.RETRY,
    ActionStatus.FAILED: states.FAILURE,
}
ERROR_TEXT_LIMIT = 4000


def _type_name(exc: BaseException) -> str:
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}"


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_TEXT_LIMIT]


def _storing(request: Any) -> Any:
    """The request as the backend should see it: its message said ``ignore_result`` only so
    that Celery leaves the storing to us."""
    if request is None:
        return None
    context = Context(vars(request))
    context.ignore_result = False
    return context


@dataclass(frozen=True, slots=True)
class Running:
    """A claimed attempt: its job, token, claim and when this process started it."""

    job_id: str
    token: str
    claim: Claim
    started: float  # time.monotonic() at the claim

    def server_now_ms(self) -> int:
        """The Redis server's clock now, from the claim's plus the time since."""
        return self.claim.now_ms + int((time.monotonic() - self.started) * 1000)


class Attempt:
    """Runs and records attempts of one action task."""

    def __init__(self, task: ActionTask) -> None:
        self.task = task
        self.runtime = task.runtime

    def run(self, request: Any, token: str, kwargs: dict[str, Any]) -> Any:
        """Claim the job of this message, run it and record the outcome."""
        task = self.task
        claim = self._claim(request, token)
        running = Running(request.id, token, claim, time.monotonic())
        try:
            params = task.params_model.load(kwargs)
        except InvalidParams as exc:
            self.failed(running, exc, request, retry=False)
            raise
        try:
            result = task.run(**params)
            if inspect.isawaitable(result):
                result = run_awaitable(result)
        except Retry as retry:
            raise self.retry_requested(running, from_retry(retry), request) from retry
        except RetryRequested as asked:
            raise self.retry_requested(running, asked, request) from asked.exc
        except Exception as exc:
            self.failed(running, exc, request, retry=task.retries_on(exc))
            raise
        if task.backend.serializer == "json":
            try:
                kombu_dumps(result)  # type: ignore[no-untyped-call]
            except TypeError as exc:
                self.failed(running, exc, request, retry=False)
                raise
        canvas.succeeded(task, request, result)
        self._record(running, Outcome.COMPLETE, None, None, value=result, request=request)
        return result

    def retry_requested(self, running: Running, asked: RetryRequested, request: Any) -> Any:
        """Record a retry the action asked for; returns the error to raise when none is
        left (a retry raises Celery's ``Retry`` from :meth:`failed`)."""
        self.failed(running, asked.error(), request, requested=asked)
        return asked.final_error(self.task)

    def _claim(self, request: Any, token: str) -> Claim:
        """Claim the job, riding out a Redis outage for up to a lease (then the message is
        requeued); a stale or forged message is dropped (``Ignore``)."""
        store, settings = self.runtime.store, self.runtime.settings
        worker = f"{request.hostname or _HOST}:{os.getpid()}"
        claim_id = uuid.uuid4().hex
        try:
            claim = retrying(
                lambda: store.claim(request.id, token, worker, self.task.name, claim_id),
                f"claiming {request.id}",
                settings.lease_timeout_s,
            )
        except TRANSIENT:
            raise Reject("Redis unavailable: cannot claim the action", requeue=True) from None
        if isinstance(claim, ClaimRefused):
            if claim.forged:
                logger.warning(
                    "celery-actions: dropped a forged message for %s: %s", request.id, claim.why
                )
            else:
                logger.info(
                    "celery-actions: dropped a stale message for %s (status %s)",
                    request.id,
                    claim.status,
                )
            raise Ignore()
        return claim

    def failed(
        self,
        running: Running,
        exc: BaseException,
        request: Any,
        *,
        retry: bool = True,
        requested: RetryRequested | None = None,
    ) -> None:
        """Record a failed attempt: a retry when the policy allows (raises Celery's
        ``Retry``), else the final failure (the caller re-raises the action's error),
        after failing the action's canvas as Celery would."""
        error_type = _type_name(exc)
        claim = running.claim
        if retry:
            policy = RetrySchedule.from_json(json.loads(claim.options_json)["retry"])
            decision = decide(
                policy,
                claim.failures + 1,
                claim.first_started_ms,
                running.server_now_ms(),
                error_type,
                requested_delay_ms=None if requested is None else requested.delay_ms,
                max_retries=None if requested is None else requested.max_retries,
            )
        else:
            decision = RetryDecision(False, 0, f"{error_type} is not retried")
        outcome = Outcome.RETRY if decision.retry else Outcome.FAILED
        traceback = None
        if outcome is Outcome.FAILED:
            if requested is not None:
                exc = requested.final_error(self.task)
            if request is not None:
                traceback = "".join(format_exception(exc))
                canvas.failed(self.task, request, exc, traceback)
        finished = self._record(running, outcome, exc, decision, request=request)
        if traceback is not None:
            canvas.fail_chain(self.task, request, exc, traceback)
        if finished.status is ActionStatus.RETRYING and finished.due_ms is not None:
            when = datetime.fromtimestamp(finished.due_ms / 1000, UTC)
            raise Retry(exc=exc, when=when) from exc

    def timed_out(self, token: str, exc: BaseException, request: Any) -> None:
        """A hard time limit killed the attempt of this message (called in the worker's
        main process): a failed attempt under the retry policy; its slot is released at
        once. Celery stores nothing itself for actions (their messages say
        ``ignore_result``)."""
        store = self.runtime.store
        job_id = request.id
        record = store.record(job_id)
        if record is None or record.get(Field.STATUS) != ActionStatus.RUNNING:
            return
        if record.get(Field.TOKEN) != token:
            return  # a stale attempt: another dispatch owns the job
        claim = Claim(
            attempts=int(record.get(Field.ATTEMPTS, 0)),
            failures=int(record.get(Field.FAILURES, 0)),
            first_started_ms=int(record.get(Field.FIRST_STARTED_AT) or 0),
            options_json=record.get(Field.OPTIONS, "{}"),
            now_ms=int(store.client.time()[0]) * 1000,
        )
        with contextlib.suppress(Retry, Ignore):
            self.failed(Running(job_id, token, claim, time.monotonic()), exc, request)

    def _record(
        self,
        running: Running,
        outcome: Outcome,
        exc: BaseException | None,
        decision: RetryDecision | None,
        *,
        value: Any = None,
        request: Any = None,
    ) -> Finished:
        """Record the outcome and store the result meta (in the same Lua call when it can)."""
        task, runtime = self.task, self.runtime
        job_id = running.job_id
        traceback = None if exc is None else "".join(format_exception(exc))
        stored_value = value if exc is None else exc
        storing = _storing(request)
        payload = None
        writer = runtime.result_writer
        if writer is not None:
            status = _STATUS_OF_OUTCOME[outcome]
            state = _STATE_OF_STATUS[status]
            keep_ms = runtime.store.retention_ms(status is ActionStatus.COMPLETE)
            key, meta, expires_ms = writer.encode(
                job_id, state, stored_value, traceback, storing, keep_ms
            )
            payload = (key, meta, expires_ms, status.value)
        attempt = AttemptOutcome(
            outcome,
            delay_ms=0 if decision is None else decision.delay_ms,
            reason="" if decision is None else decision.reason,
            error="" if exc is None else _error_text(exc),
            error_type="" if exc is None else _type_name(exc),
            traceback=traceback or "",
            result=payload,
        )
        finished = retrying(
            lambda: runtime.dispatcher.finish(job_id, running.token, attempt),
            f"recording the outcome of {job_id}",
            max(10 * runtime.settings.lease_timeout_s, 300.0),
        )
        if finished.status is None:
            raise Ignore()  # our lease was reclaimed; the re-dispatched run owns the job
        if finished.status is ActionStatus.CANCELLED:
            if request is None:
                task.backend.mark_as_revoked(job_id, "cancelled")
                raise Ignore()
            canvas.cancelled(task, request, "cancelled")
            with task.app.events.default_dispatcher(hostname=request.hostname) as events:
                events.send("task-revoked", uuid=job_id, terminated=False, signum=None,
                            expired=False)  # fmt: skip
            raise Ignore()
        if not finished.result_stored:
            state = _STATE_OF_STATUS[finished.status]
            task.backend.store_result(job_id, stored_value, state, traceback, request=storing)
        return finished


def run_awaitable(awaitable: Any) -> Any:
    """The value of an ``async def`` action: run to its end on an event loop of its own
    (in a thread of its own when this thread already runs a loop)."""

    async def wait() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wait())
    box: dict[str, Any] = {}

    def in_thread() -> None:
        try:
            box["value"] = asyncio.run(wait())
        except BaseException as exc:  # handed back to the caller below
            box["error"] = exc

    thread = threading.Thread(target=in_thread, name="celery-actions-async")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
