"""Declaring an action: a Celery task of the action's class, with its params model, its
declared defaults, and Celery's own task settings mapped where they touch an action.

``celery_options`` are passed to ``app.task`` (``time_limit``, ``soft_time_limit``,
``queue``, ...), except: ``bind=True`` (the function's first parameter is the task, not a
param: ``self.retry()`` and ``self.request`` work), ``base=MyTask`` (its hooks and
overrides run over the action's; ``action_class``), and Celery's retry settings
(``autoretry_for``, ``max_retries``, ``retry_backoff``, ...), which become the action's
declared retry policy (``core/celery_retry.py``): one retry policy, never Celery's
autoretry wrapper beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from celery import Task

from ..celery.task import ActionTask, action_class
from ..core.celery_retry import SETTINGS as RETRY_SETTINGS
from ..core.celery_retry import from_settings, merged_retries
from ..core.options import EnqueueOptions, parse_options
from ..core.params import ParamsModel
from ..errors import InvalidOptions

if TYPE_CHECKING:
    from .facade import Actions

_UNSET = object()


def _retry_settings(task_options: dict[str, Any], base: type[Task]) -> dict[str, Any]:
    """Celery's retry settings, taken out of ``task_options`` (or set on the base class)."""
    settings: dict[str, Any] = {}
    for name in RETRY_SETTINGS:
        if name in task_options:
            settings[name] = task_options.pop(name)
        elif base is not ActionTask and getattr(base, name, _UNSET) is not getattr(
            Task, name, _UNSET
        ):
            settings[name] = getattr(base, name)
    return settings


def defaults_of(
    options: Mapping[str, Any], retry_settings: Mapping[str, Any]
) -> EnqueueOptions | None:
    """The action's declared defaults, with Celery's retry settings merged in."""
    celery = from_settings(retry_settings)
    given = dict(options)
    if celery.policy:
        spelled = "retries" if "retries" in given else None
        given["retries"] = merged_retries(given, celery)
        if spelled is None and not given["retries"]:
            del given["retries"]
    defaults = parse_options(None, **given) if given else None
    if defaults is not None and "id" in defaults.model_fields_set:
        raise InvalidOptions("'id' is per enqueue, not an action default", field="id")
    return defaults


def declare(
    actions: Actions,
    func: Callable[..., Any],
    name: str | None,
    celery_options: Mapping[str, Any] | None,
    options: Mapping[str, Any],
    browser: bool | str | None = None,
) -> ActionTask:
    """The action task of ``func``, registered on the app and the facade (``browser``: may
    browsers enqueue it, see ``celery_actions/django/browser.py``)."""
    task_name = name or f"{func.__module__}.{func.__qualname__}"
    task_options: dict[str, Any] = dict(celery_options or {})
    bind = bool(task_options.pop("bind", False))
    cls = action_class(task_options.pop("base", None))
    retry_settings = _retry_settings(task_options, cls)
    defaults = defaults_of(options, retry_settings)
    celery = from_settings(retry_settings)
    if defaults is not None and defaults.celery_queue:
        task_options.setdefault("queue", defaults.celery_queue)
    task: ActionTask = actions.app.task(
        name=task_name,
        base=cls,
        bind=bind,
        shared=False,
        lazy=False,
        runtime=actions.runtime,
        enqueue=actions.enqueue,
        submit=actions.submit,
        params_model=ParamsModel(func, task_name, bound=bind),
        action_defaults=defaults,
        retry_on=celery.retry_on,
        never_retry_on=celery.never_on,
        browser=browser,
        autoretry_for=(),  # never Celery's autoretry wrapper: one retry policy
        **task_options,
    )(func)
    actions.runtime.tasks[task_name] = task
    return task
