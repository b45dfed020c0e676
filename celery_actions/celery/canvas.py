"""An action's place in a Celery canvas, on the worker.

Celery's tracer sends a task's links and the next step of its chain, and reports to its
chord, after the task returns; on a failure it reports to the chord, fails the rest of the
chain and calls the error links. An action does the same, but only for its final outcome
(a retry is not a failure of the chain), and before recording that outcome: so a worker
lost in between runs the action again (it was not recorded) and sends again, rather than
recording an outcome whose next steps never left. A next step that is an action has its id
from the canvas, so sending it twice enqueues it once. Each function then clears what it
did from the request, and the tracer, which runs after, finds nothing left to do. What a
waiter on the canvas sees (the rest of a failed chain marked failed) comes after the
outcome is recorded, so ``status()`` agrees with it.
"""

from __future__ import annotations

from typing import Any

from celery import group, maybe_signature, states
from celery.app.task import Context


def _publish(app: Any, apply: Any, *args: Any, **kwargs: Any) -> Any:
    retry_publish = getattr(app.amqp, "_retry_publish", None)  # Celery >= 5.6
    if retry_publish is None:
        return apply(*args, **kwargs)
    return retry_publish(apply, *args, **kwargs)


def succeeded(task: Any, request: Any, retval: Any) -> None:
    """The action returned for good: send its links and its chain's next step (the value
    as their first argument) and report to its chord, as Celery's tracer does."""
    app = task.app
    parent_id, root_id = request.id, request.root_id or request.id
    priority = None
    if app.conf.task_inherit_parent_priority:
        priority = (request.delivery_info or {}).get("priority")
    options = {"parent_id": parent_id, "root_id": root_id, "priority": priority}
    callbacks = [maybe_signature(c, app=app) for c in request.callbacks or ()]
    if len(callbacks) == 1:
        _publish(app, callbacks[0].apply_async, (retval,), **options)
    elif callbacks:
        groups = [c for c in callbacks if isinstance(c, group)]
        plain = [c for c in callbacks if not isinstance(c, group)]
        for each in groups:
            _publish(app, each.apply_async, (retval,), **options)
        if plain:
            _publish(app, group(plain, app=app).apply_async, (retval,), **options)
    chain = request.chain
    if chain:
        step = maybe_signature(chain[-1], app=app)
        _publish(app, step.apply_async, (retval,), chain=chain[:-1], **options)
    request.callbacks = request.chain = None
    if request.chord:
        task.backend.on_chord_part_return(request, states.SUCCESS, retval)
        request.chord = None


def failed(task: Any, request: Any, exc: BaseException, traceback: str | None) -> None:
    """The action failed for good: report to its chord and call its error links, as
    Celery's backend does (then :func:`fail_chain`, once the failure is recorded)."""
    backend = task.backend
    if request.chord:
        backend.on_chord_part_return(request, states.FAILURE, exc)
    if request.errbacks:
        backend._call_task_errbacks(request, exc, traceback)
    request.chord = request.errbacks = request.callbacks = None


def fail_chain(task: Any, request: Any, exc: BaseException, traceback: str | None) -> None:
    """Fail the rest of the action's chain, so waiting on the chain raises its error (what
    a waiter sees: done after the action's failure is recorded, so the record agrees)."""
    backend = task.backend
    for element in request.chain or ():
        step = Context(element)
        step.update(step.options)
        step.id = step.options.get("task_id")
        step.group = step.options.get("group_id")
        if step.id is not None:
            backend.store_result(step.id, exc, states.FAILURE, traceback=traceback, request=step)
        if "chord" in step.options:
            backend.on_chord_part_return(step, states.FAILURE, exc)
    request.chain = None


def cancelled(task: Any, request: Any, reason: str) -> None:
    """The action was cancelled: revoked in the result backend, which reports to its
    chord as Celery's revoke does."""
    task.backend.mark_as_revoked(request.id, reason, request=request, store_result=True)
    request.chord = request.chain = request.errbacks = request.callbacks = None
