"""ActionTask: the Celery Task base class of every action.

A message carries the job's dispatch token; :class:`~.attempt.Attempt` claims the job,
runs the function and records the outcome. Action messages say ``ignore_result``: the
attempt stores every outcome in the result backend itself, right after recording it in
Redis, so the backend never disagrees with the job record (Celery would otherwise store a
hard time limit's failure for an action that is about to run again).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from celery import Task
from celery.exceptions import Ignore, Retry, TimeLimitExceeded

from ..core.protocol import TOKEN_HEADER, ActionStatus, Field
from ..errors import InvalidParams
from ..redis.records import Claim
from .attempt import Attempt, Running

if TYPE_CHECKING:
    from ..core.options import EnqueueOptions
    from ..core.params import ParamsModel
    from .runtime import Runtime

Enqueue = Callable[["ActionTask", Mapping[str, Any], Mapping[str, Any]], Any]
"""Enqueues an action and returns its handle (the facade's ``enqueue``)."""
SelectRecord = Callable[[Mapping[str, Any], Sequence[str]], dict[str, Any]]
"""Reads fields of the record a model action's params name (``result(select=...)``)."""


class ActionTask(Task):  # type: ignore[misc]
    """Base class of action tasks: late ack, requeue on a lost worker, bookkeeping."""

    acks_late = True
    reject_on_worker_lost = True
    Request = "celery_actions.celery.request:ActionRequest"
    typing = False  # params are checked by the action's own model
    runtime: Runtime
    params_model: ParamsModel
    action_defaults: EnqueueOptions | None = None
    enqueue: Enqueue
    select_record: SelectRecord | None = None
    """Set on model actions (``celery_actions.django``); None for global actions."""
    browser: bool | str | None = None
    """True (or the Django permission it needs) when browsers may enqueue it."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = self.request_stack.top
        token = None if request is None else getattr(request, TOKEN_HEADER, None)
        if token is None or request.called_directly:
            return super().__call__(*args, **kwargs)
        if args:
            raise InvalidParams(f"{self.name}: params are keyword arguments only", field=None)
        return Attempt(self).run(request, str(token), kwargs)

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
        handle = self.enqueue(self, kwargs or {}, enqueue_options)
        return self.AsyncResult(handle.id)

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
        store = self.runtime.store
        record = store.record(task_id)
        if record is None or record.get(Field.STATUS) != ActionStatus.RUNNING:
            return
        server_now_ms = int(store.client.time()[0]) * 1000
        claim = Claim(
            attempts=int(record.get(Field.ATTEMPTS, 0)),
            failures=int(record.get(Field.FAILURES, 0)),
            first_started_ms=int(record.get(Field.FIRST_STARTED_AT) or 0),
            options_json=record.get(Field.OPTIONS, "{}"),
            now_ms=server_now_ms,
        )
        running = Running(task_id, record[Field.TOKEN], claim, time.monotonic())
        with contextlib.suppress(Retry, Ignore):
            Attempt(self).failed(running, exc, None)
