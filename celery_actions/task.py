"""ActionTask: the Celery Task base class of every action.

A message carries the job's dispatch token. The task claims the job (one Lua call: the
token must be current and the job waiting, or the message is stale and is dropped with
``Ignore``), re-validates the params, runs the function and records the outcome (one more
Lua call, which also frees the lease and queue slot and admits the next waiting job).
A failed attempt with retries left is scheduled in Redis and reported to Celery as
``Retry`` (Flower shows it retried); the final failure re-raises the action's own error.

Action messages say ``ignore_result``: the task stores every outcome in the result
backend itself, right after recording it in Redis, so the backend never disagrees with
the job record (Celery would otherwise store a hard time limit's failure for an action
that is about to run again).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from datetime import UTC, datetime, timedelta
from traceback import format_exception
from typing import TYPE_CHECKING, Any

from celery import Task, states
from celery.app.task import Context
from celery.exceptions import Ignore, Retry, TimeLimitExceeded
from kombu.utils.json import dumps as kombu_dumps

from . import retries
from .dispatch import TOKEN_HEADER
from .errors import InvalidParams
from .options import EnqueueOptions, RetrySchedule
from .store import Claim

if TYPE_CHECKING:
    from .actions import Actions
    from .params import ParamsModel

_HOST = socket.gethostname()
_STATE_OF_OUTCOME = {"complete": states.SUCCESS, "retry": states.RETRY, "failed": states.FAILURE}
_STATUS_OF_STATE = {states.SUCCESS: "complete", states.RETRY: "retrying", states.FAILURE: "failed"}
_STATE_OF_STATUS = {status: state for state, status in _STATUS_OF_STATE.items()}
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


class ActionTask(Task):  # type: ignore[misc]
    """Base class of action tasks: late ack, requeue on a lost worker, bookkeeping."""

    acks_late = True
    reject_on_worker_lost = True
    typing = False  # params are checked by the action's own model
    actions: Actions
    params_model: ParamsModel
    action_defaults: EnqueueOptions | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = self.request_stack.top
        token = None if request is None else getattr(request, TOKEN_HEADER, None)
        if token is None or request.called_directly:
            return super().__call__(*args, **kwargs)
        if args:
            raise InvalidParams(f"{self.name}: params are keyword arguments only", field=None)
        return self._run_action(request, str(token), kwargs)

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        """``.delay()``/``.apply_async()`` on an action enqueue it (with bookkeeping)."""
        if args:
            raise InvalidParams(f"{self.name}: params are keyword arguments only", field=None)
        enqueue_options: dict[str, Any] = {}
        if options.get("task_id"):
            enqueue_options["id"] = options["task_id"]
        if options.get("eta") is not None:
            enqueue_options["start_at"] = options["eta"]
        elif options.get("countdown"):
            enqueue_options["start_at"] = datetime.now(UTC) + timedelta(
                seconds=float(options["countdown"])
            )
        if options.get("queue"):
            enqueue_options["celery_queue"] = options["queue"]
        handle = self.actions.enqueue(self, kwargs or {}, enqueue_options)
        return self.AsyncResult(handle.id)

    def _run_action(self, request: Any, token: str, kwargs: dict[str, Any]) -> Any:
        store = self.actions.store
        job_id = request.id
        worker = f"{request.hostname or _HOST}:{os.getpid()}"
        claim = store.claim(job_id, token, worker)
        if claim is None:
            raise Ignore()  # stale message: redelivered, or superseded by a re-dispatch
        try:
            params = self.params_model.load(kwargs)
        except InvalidParams as exc:
            self._record_failure(job_id, token, exc, None, request)
            raise
        try:
            result = self.run(**params)
        except Exception as exc:
            policy = RetrySchedule.from_json(json.loads(claim.options_json)["retry"])
            self._record_failure(job_id, token, exc, (policy, claim), request)
            raise
        if self.backend.serializer == "json":
            try:
                kombu_dumps(result)  # type: ignore[no-untyped-call]
            except TypeError as exc:
                self._record_failure(job_id, token, exc, None, request)
                raise
        self._finish(job_id, token, "complete", None, value=result, request=request)
        return result

    def _record_failure(
        self,
        job_id: str,
        token: str,
        exc: BaseException,
        retry: tuple[RetrySchedule, Claim] | None,
        request: Any,
    ) -> None:
        """Record a failed attempt: a retry when the policy allows, else the final failure.

        Raises Celery's Retry for a retry (Flower shows it retried); otherwise the failure
        is stored and the caller re-raises the action's own error.
        """
        outcome, delay, deadline, count = "failed", 0, 0, 0
        if retry is not None:
            policy, claim = retry
            failures = claim.failures + 1
            deadline, count = claim.first_started_ms + policy.retry_for_ms, policy.retry_count
            if failures <= policy.retry_count:
                outcome, delay = "retry", retries.delay_ms(policy, failures)
        status, due = self._finish(
            job_id,
            token,
            outcome,
            exc,
            delay_ms=delay,
            deadline_ms=deadline,
            retry_count=count,
            request=request,
        )
        if status == "retrying" and due is not None:
            raise Retry(exc=exc, when=datetime.fromtimestamp(due / 1000, UTC)) from exc

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        """A hard time limit killed the action (called in the worker's main process).

        Celery stores nothing itself for actions (their messages say ``ignore_result``), so
        the timeout is recorded as a failed attempt under the retry policy, and its queue
        slot is released at once.
        """
        if not isinstance(exc, TimeLimitExceeded):
            return
        record = self.actions.store.record(task_id)
        if record is None or record.get("status") != "running":
            return
        claim = Claim(
            failures=int(record.get("failures", 0)),
            first_started_ms=int(record.get("first_started_at") or 0),
            options_json=record.get("options", "{}"),
        )
        policy = RetrySchedule.from_json(json.loads(claim.options_json)["retry"])
        with contextlib.suppress(Retry, Ignore):
            self._record_failure(task_id, record["token"], exc, (policy, claim), None)

    def _finish(
        self,
        job_id: str,
        token: str,
        outcome: str,
        exc: BaseException | None,
        *,
        delay_ms: int = 0,
        deadline_ms: int = 0,
        retry_count: int = 0,
        value: Any = None,
        request: Any = None,
    ) -> tuple[str, int | None]:
        """Record the outcome and store the result meta (in the same Lua call when it can)."""
        actions = self.actions
        traceback = None if exc is None else "".join(format_exception(exc))
        stored_value = value if exc is None else exc
        storing = _storing(request)
        payload = None
        if actions.result_writer is not None:
            state = _STATE_OF_OUTCOME[outcome]
            key, meta, expires_ms = actions.result_writer.encode(
                job_id, state, stored_value, traceback, storing
            )
            payload = (key, meta, expires_ms, _STATUS_OF_STATE[state])
        status, dispatch, due, stored = actions.store.finish(
            job_id,
            token,
            outcome,
            delay_ms=delay_ms,
            deadline_ms=deadline_ms,
            error="" if exc is None else _error_text(exc),
            error_type="" if exc is None else _type_name(exc),
            retry_count=retry_count,
            result=payload,
        )
        actions.publisher.publish(dispatch)
        if status == "stale":
            raise Ignore()  # our lease was reclaimed; the re-dispatched run owns the job
        if status == "cancelled":
            self.backend.mark_as_revoked(job_id, "cancelled")
            raise Ignore()
        if not stored:
            state = _STATE_OF_STATUS[status]
            self.backend.store_result(job_id, stored_value, state, traceback, request=storing)
        return status, due
