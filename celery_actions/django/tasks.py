"""A ``django.tasks`` backend: every ``@task`` is an action.

``TASKS = {"default": {"BACKEND": "celery_actions.django.tasks.ActionsBackend"}}``.
``supports_defer``, ``supports_async_task``, ``supports_get_result`` and
``supports_priority`` are all true:

- ``run_after`` is a ``startAt`` held in Redis (never a Celery eta: no duplicate runs past
  the broker's visibility timeout);
- ``priority`` (-100..100) maps onto ``low`` (< 0), ``default`` (0) and ``high`` (> 0);
- ``queue_name`` is the Celery queue (``"default"``: Celery's own routing);
- our options go through the decorator's extra arguments and ``using()``:
  ``@task(retries=3, queue={"name": "supplier", "maxConcurrency": 2}, retry_for=...)``,
  ``my_task.using(id="report-2026-12-01", on_duplicate_id="ignore")``;
- ``get_result``/``aget_result`` map our statuses onto Django's (READY for scheduled,
  waiting and retrying; RUNNING; FAILED for failed and cancelled; SUCCESSFUL), with one
  ``TaskError`` per failed attempt and the id of the worker of each attempt;
- ``task_enqueued`` (at enqueue), ``task_started`` (each attempt, on its worker) and
  ``task_finished`` (the final outcome, on its worker) are sent; an unknown id raises
  ``TaskResultDoesNotExist``.

Enqueueing inside ``transaction.atomic()`` goes through the outbox like any enqueue.
Django calls a task with positional and keyword arguments: an action's params are
``{"args": [...], "kwargs": {...}}``, checked against the function's signature at enqueue.
"""

from __future__ import annotations

import inspect
import json
import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from traceback import format_exception
from typing import TYPE_CHECKING, Any

from celery import current_task
from celery.signals import task_failure, task_success
from django.core.checks import CheckMessage, Error
from django.utils import timezone
from django.utils.module_loading import import_string

from ..core.options import parse_options
from ..core.protocol import ActionStatus, Field
from ..errors import ActionsError, InvalidOptions, InvalidParams
from ._tasks_api import (
    BaseTaskBackend,
    InvalidTask,
    Task,
    TaskContext,
    TaskError,
    TaskResult,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task_enqueued,
    task_finished,
    task_started,
)
from .conf import get_actions

if TYPE_CHECKING:
    from ..celery.task import ActionTask
    from ..client.facade import Actions

OUR_OPTIONS = {
    "retries": "retries",
    "queue": "queue",
    "retry_for": "retry_for",
    "retryFor": "retry_for",
    "id": "id",
    "on_duplicate_id": "on_duplicate_id",
    "onDuplicateID": "on_duplicate_id",
}
"""Our options a task takes (decorator or ``using()``), both spellings, by field name."""
STATUS = {
    ActionStatus.SCHEDULED: TaskResultStatus.READY,
    ActionStatus.WAITING: TaskResultStatus.READY,
    ActionStatus.RETRYING: TaskResultStatus.READY,
    ActionStatus.RUNNING: TaskResultStatus.RUNNING,
    ActionStatus.FAILED: TaskResultStatus.FAILED,
    ActionStatus.CANCELLED: TaskResultStatus.FAILED,
    ActionStatus.COMPLETE: TaskResultStatus.SUCCESSFUL,
}
# ``Keys.task_attempts(id)`` (list): one JSON entry per attempt start (``{"w": worker}``)
# and per attempt failure (``{"e": exception class path, "t": traceback}``); kept as long
# as the action's record.


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionsTask(Task):
    """A ``django.tasks`` Task that also takes celery-actions options."""

    retries: Any = None
    queue: Any = None
    """The concurrency group (Gadget's ``queue``): a name or ``{name, maxConcurrency}``."""
    retry_for: Any = None
    id: str | None = None
    on_duplicate_id: str | None = None

    def using(
        self,
        *,
        priority: int | None = None,
        queue_name: str | None = None,
        run_after: datetime | None = None,
        backend: str | None = None,
        **options: Any,
    ) -> ActionsTask:
        """Django's ``using()``, plus our options (``retries``, ``queue``, ``retry_for``,
        ``id``, ``on_duplicate_id``, in either spelling)."""
        task: ActionsTask = Task.using(
            self, priority=priority, queue_name=queue_name, run_after=run_after, backend=backend
        )
        return replace(task, **_our_options(options)) if options else task

    def action_options(self) -> dict[str, Any]:
        """Our options as ``enqueue`` takes them."""
        return {name: getattr(self, name) for name in set(OUR_OPTIONS.values())
                if getattr(self, name) is not None}  # fmt: skip


def _our_options(options: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(OUR_OPTIONS))
    if unknown:
        raise InvalidTask(
            f"unknown task option {unknown[0]!r}; celery-actions takes "
            f"{', '.join(sorted(OUR_OPTIONS))}"
        )
    return {OUR_OPTIONS[key]: value for key, value in options.items()}


def _priority(value: int) -> str | None:
    return "low" if value < 0 else "high" if value > 0 else None


def _dt(ms: str | None) -> datetime | None:
    return None if not ms else datetime.fromtimestamp(int(ms) / 1000, UTC)


class ActionsBackend(BaseTaskBackend):
    """Runs ``django.tasks`` tasks as celery-actions actions (see the module docstring).

    ``OPTIONS``: ``{"ACTIONS": "proj.celery.actions"}`` names the facade (default: the
    Django app's, see ``conf.py``).
    """

    task_class = ActionsTask
    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self._actions: Actions | None = None
        self._tasks: dict[str, Task] = {}
        _connect_signals()

    @property
    def actions(self) -> Actions:
        """The facade the tasks are actions of."""
        if self._actions is None:
            path = self.options.get("ACTIONS")
            self._actions = import_string(path) if path else get_actions()
        return self._actions

    def check(self, **kwargs: Any) -> list[CheckMessage]:
        try:
            self.actions  # noqa: B018 - resolves the facade
        except (ActionsError, ImportError) as exc:
            return [Error(str(exc), id="celery_actions.E010", obj=self.alias)]
        return []

    # -- declaring ---------------------------------------------------------------------

    def validate_task(self, task: Task) -> None:
        super().validate_task(task)
        options = task.action_options() if isinstance(task, ActionsTask) else {}
        try:
            parse_options(options)
        except InvalidOptions as exc:
            raise InvalidTask(f"{task.module_path}: {exc}") from exc
        self.action_for(task)

    def action_for(self, task: Task) -> ActionTask:
        """The action that runs ``task`` (declared on first sight)."""
        name = task.module_path
        action = self.actions.runtime.tasks.get(name)
        if action is not None and self._tasks.get(name) is not None:
            return action
        self._tasks[name] = task
        _BACKENDS[name] = self
        backend = self

        def run(args: list[Any], kwargs: dict[str, Any]) -> Any:
            return backend._run(name, args, kwargs)

        run.__module__ = task.func.__module__
        run.__qualname__ = run.__name__ = task.func.__qualname__
        return self.actions.action(name=name)(run)

    # -- enqueueing --------------------------------------------------------------------

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        self.validate_task(task)
        action = self.action_for(task)
        _check_call(task, args, kwargs)
        options: dict[str, Any] = task.action_options() if isinstance(task, ActionsTask) else {}
        priority = _priority(task.priority)
        if priority is not None:
            options["priority"] = priority
        if task.run_after is not None:
            run_after = task.run_after
            if timezone.is_naive(run_after):
                run_after = timezone.make_aware(run_after)
            options["start_at"] = run_after
        if task.queue_name and task.queue_name != "default":
            options["celery_queue"] = task.queue_name
        params = {"args": list(args), "kwargs": dict(kwargs)}
        handle = self.actions.enqueue(action, params, options)
        result = TaskResult(
            task=task, id=handle.id, status=TaskResultStatus.READY, enqueued_at=timezone.now(),
            started_at=None, finished_at=None, last_attempted_at=None, args=list(args),
            kwargs=dict(kwargs), backend=self.alias, errors=[], worker_ids=[],
        )  # fmt: skip
        task_enqueued.send(type(self), task_result=result)
        return result

    # -- results -----------------------------------------------------------------------

    def get_result(self, result_id: str) -> TaskResult:
        store = self.actions.runtime.store
        record = store.record(result_id)
        task = None if record is None else self._task_named(record[Field.ACTION])
        if record is None or task is None:
            raise TaskResultDoesNotExist(result_id)
        params = json.loads(record.get(Field.PARAMS) or "{}")
        history = [
            json.loads(e) for e in store.client.lrange(_history_key(store, result_id), 0, -1)
        ]
        status = STATUS[ActionStatus(record[Field.STATUS])]
        result = TaskResult(
            task=task, id=result_id, status=status, enqueued_at=_dt(record.get(Field.CREATED_AT)),
            started_at=_dt(record.get(Field.FIRST_STARTED_AT) or record.get(Field.STARTED_AT)),
            finished_at=_dt(record.get(Field.FINISHED_AT)),
            last_attempted_at=_dt(record.get(Field.STARTED_AT)),
            args=params.get("args", []), kwargs=params.get("kwargs", {}), backend=self.alias,
            errors=[TaskError(exception_class_path=e["e"], traceback=e["t"])
                    for e in history if "e" in e],
            worker_ids=[e["w"] for e in history if "w" in e],
        )  # fmt: skip
        if status == TaskResultStatus.SUCCESSFUL:
            value = self.actions.app.AsyncResult(result_id).result
            object.__setattr__(result, "_return_value", value)
        return result

    def _task_named(self, name: str) -> Task | None:
        task = self._tasks.get(name)
        if task is None:
            try:
                found = import_string(name)
            except ImportError:
                return None
            task = found if isinstance(found, Task) and found.backend == self.alias else None
        return task

    # -- running (on the worker) -------------------------------------------------------

    def _run(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        task = self._tasks[name]
        request = current_task.request
        store = self.actions.runtime.store
        key = _history_key(store, request.id)
        worker_id = f"{request.hostname or 'worker'}:{os.getpid()}"
        self._remember(key, {"w": worker_id})
        result = self.get_result(request.id)
        task_started.send(type(self), task_result=result)
        try:
            if task.takes_context:
                return task.call(TaskContext(task_result=result), *args, **kwargs)
            return task.call(*args, **kwargs)
        except Exception as exc:
            cls = type(exc)
            error = {"e": f"{cls.__module__}.{cls.__qualname__}",
                     "t": "".join(format_exception(exc))[-8000:]}  # fmt: skip
            self._remember(key, error)
            raise

    def _remember(self, key: str, entry: dict[str, str]) -> None:
        runtime = self.actions.runtime
        pipe = runtime.store.client.pipeline(transaction=False)
        pipe.rpush(key, json.dumps(entry))
        keep_s = max(runtime.settings.retention_s(True), runtime.settings.retention_s(False))
        pipe.expire(key, int(keep_s) + 3600)
        pipe.execute()


def _history_key(store: Any, action_id: str) -> str:
    return store.keys.task_attempts(action_id)


def _check_call(task: Task, args: Any, kwargs: Any) -> None:
    """Raise InvalidParams when the arguments do not fit the function's signature."""
    try:
        signature = inspect.signature(task.func)
        if task.takes_context:
            signature.bind(None, *args, **kwargs)
        else:
            signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise InvalidParams(f"arguments of {task.module_path}: {exc}", field=None) from None


_BACKENDS: dict[str, ActionsBackend] = {}
"""The backend of each action that runs a django.tasks task, by action name."""
_connected = False


def _connect_signals() -> None:
    global _connected
    if _connected:
        return
    _connected = True
    task_success.connect(_on_finished, weak=False)
    task_failure.connect(_on_finished, weak=False)


def _on_finished(sender: Any = None, **kwargs: Any) -> None:
    """Celery's task_success/task_failure of an action that runs a django.tasks task: its
    final outcome is recorded (a retried attempt raises Retry, which sends neither)."""
    backend = _BACKENDS.get(getattr(sender, "name", None) or "")
    if backend is None:
        return
    task_id = kwargs.get("task_id") or sender.request.id
    task_finished.send(type(backend), task_result=backend.get_result(task_id))
