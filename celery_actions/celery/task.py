"""ActionTask: the Celery Task base class of every action.

A message carries the job's dispatch token; :class:`~.attempt.Attempt` claims the job,
runs the function and records the outcome. A message without a token (sent by plain
Celery, beat, another service) is adopted: enqueued as an action (``door.py``). Action
messages say ``ignore_result``: the attempt stores every outcome in the result backend
itself, right after recording it in Redis, so the backend never disagrees with the job
record.

Celery's own idioms map onto actions: ``apply_async``/``delay``/signatures enqueue one
(``core/calls.py`` maps their options; positional args map onto the params by position),
and ``self.retry()`` is a failed attempt under the action's retry policy
(``retry_tools.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from celery import Task
from kombu.utils.imports import symbol_by_name

from ..core.calls import from_call
from ..core.options import parse_options
from ..core.protocol import TOKEN_HEADER, EnqueueOutcome
from ..errors import InvalidParams
from . import door
from .attempt import Attempt
from .config import broker_transport
from .request import ActionRequest
from .retry_tools import requested

if TYPE_CHECKING:
    from ..core.options import EnqueueOptions
    from ..core.params import ParamsModel
    from .runtime import Runtime

logger = logging.getLogger("celery_actions")

Enqueue = Callable[["ActionTask", Mapping[str, Any], Mapping[str, Any]], Any]
"""Enqueues an action and returns its handle (the facade's ``enqueue``)."""
SelectRecord = Callable[[Mapping[str, Any], Sequence[str]], dict[str, Any]]
"""Reads fields of the record a model action's params name (``result(select=...)``)."""
Submit = Callable[..., tuple[Any, EnqueueOutcome]]
"""Enqueues an action with validated options and carried message options (the facade's
``submit``): its handle and what became of it."""


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
    submit: Submit
    retry_on: tuple[type[BaseException], ...] | None = None
    """Only these errors are retried (Celery's ``autoretry_for``); None: every error."""
    never_retry_on: tuple[type[BaseException], ...] = ()
    """These errors are never retried (Celery's ``dont_autoretry_for``)."""
    browser: bool | str | None = None
    """True (or the Django permission it needs) when browsers may enqueue it."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = self.request_stack.top
        if request is None or request.called_directly or request.is_eager:
            return super().__call__(*args, **kwargs)
        token = getattr(request, TOKEN_HEADER, None)
        if token is None:
            door.adopt(self, request, args, kwargs)
        if args:
            raise InvalidParams(f"{self.name}: params are keyword arguments only", field=None)
        return Attempt(self).run(request, str(token), kwargs)

    def retries_on(self, exc: BaseException) -> bool:
        """Whether the retry policy applies to this error at all."""
        if isinstance(exc, (InvalidParams, *self.never_retry_on)):
            return False
        return self.retry_on is None or isinstance(exc, self.retry_on)

    def apply_async(
        self,
        args: Any = None,
        kwargs: Any = None,
        task_id: str | None = None,
        producer: Any = None,
        link: Any = None,
        link_error: Any = None,
        shadow: str | None = None,
        **options: Any,
    ) -> Any:
        """Enqueue the action (``.delay()``, ``.apply_async()``, signatures, canvas, beat).

        Positional args map onto the params by position (a parent's result arrives as the
        first); Celery's options map as ``core/calls.py`` says (an unknown or inapplicable
        one raises InvalidOptions). A ``task_id`` that is taken returns the existing
        action's result: a canvas step sent again is enqueued once.
        """
        options.update(task_id=task_id, producer=producer, link=link, link_error=link_error,
                       shadow=shadow)  # fmt: skip
        call = from_call(options, broker_transport(self.app), datetime.now(UTC))
        params = self.params_model.bind(args, kwargs)
        enqueue_options = parse_options({**call.options, "on_duplicate_id": "ignore"})
        handle, outcome = self.submit(self, params, enqueue_options, call.message)
        if outcome is EnqueueOutcome.DUPLICATE:
            logger.info("celery-actions: %s[%s] is enqueued already", self.name, handle.id)
        result = self.AsyncResult(handle.id)
        parent = self.app.current_worker_task
        if call.add_to_parent and parent is not None:
            parent.add_trail(result)
        return result

    def retry(
        self,
        args: Any = None,
        kwargs: Any = None,
        exc: BaseException | None = None,
        throw: bool = True,
        eta: Any = None,
        countdown: Any = None,
        max_retries: int | None = None,
        **options: Any,
    ) -> Any:
        """Celery's ``self.retry()`` in a bound action: this attempt fails and is retried
        under the action's retry policy, after ``countdown``/``eta`` when given and up to
        ``max_retries`` when given (else the policy's). Outside a worker (a direct call)
        it raises ``exc``, as Celery's does."""
        request = self.request
        if request.called_directly:
            return super().retry(exc=exc, throw=throw)
        raise requested(
            args=args,
            kwargs=kwargs,
            exc=exc,
            throw=throw,
            eta=eta,
            countdown=countdown,
            max_retries=max_retries,
            options=options,
        )


def action_class(base: Any = None) -> type[ActionTask]:
    """The task class of an action declared with ``celery_options={"base": base}``: the
    user's base class over :class:`ActionTask` (its hooks and overrides run first and reach
    ours through ``super()``), with the settings the guarantees need kept."""
    if base is None:
        return ActionTask
    if isinstance(base, str):
        base = symbol_by_name(base)  # type: ignore[no-untyped-call]
    if not (isinstance(base, type) and issubclass(base, Task)):
        raise TypeError(f"base must be a celery.Task subclass, got {base!r}")
    if issubclass(base, ActionTask):
        return base
    attrs: dict[str, Any] = {
        "acks_late": True,
        "reject_on_worker_lost": True,
        "typing": False,
        "Request": ActionTask.Request,
        "__module__": base.__module__,
    }
    theirs: Any = getattr(base, "Request", None)
    if theirs != Task.Request:  # keep their request class, under ours
        if isinstance(theirs, str):
            theirs = symbol_by_name(theirs)  # type: ignore[no-untyped-call]
        attrs["Request"] = type(f"Action{theirs.__name__}", (ActionRequest, theirs), {})
    return type(f"Action{base.__name__}", (base, ActionTask), attrs)
