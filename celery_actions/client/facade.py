"""The Actions facade: declare actions, enqueue them, get handles."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

from celery import Celery

from ..celery import calls
from ..celery.bootstep import install
from ..celery.config import apply_defaults
from ..celery.runtime import Runtime
from ..celery.task import ActionTask
from ..core.options import EnqueueOptions, parse_options
from ..core.protocol import EnqueueOutcome, Field
from ..core.resolve import resolve
from ..core.settings import Settings
from ..errors import DuplicateActionId, InvalidOptions, NotAnAction
from .builder import JobBuilder
from .bulk import BulkEnqueue, Item
from .bulk_handles import BulkHandles
from .declare import declare
from .handles import BackgroundActionHandle

if TYPE_CHECKING:
    from ..django.model_actions import Lock

F = TypeVar("F", bound=Callable[..., Any])
ActionRef = ActionTask | str | Callable[..., Any]


class EnqueueHold(Protocol):
    """An integration's say over enqueues (:attr:`Actions.hold`).

    Each method gets the call as the facade got it and returns ``None`` to let it go ahead,
    or the handle(s) of an enqueue it took over. The Django app holds enqueues made inside
    ``transaction.atomic()`` until the commit (``celery_actions/django/outbox.py``): those
    of ``enqueue``, ``enqueue_many``, ``.delay()``/``apply_async`` and canvas alike; and
    streams querysets given to ``enqueue_many``.
    """

    def submit(
        self,
        task: ActionTask,
        params: Mapping[str, Any] | None,
        options: EnqueueOptions,
        carried: Mapping[str, Any] | None,
    ) -> BackgroundActionHandle | None:
        """Take over one enqueue (``enqueue``, ``apply_async``, adoption), or return None."""

    def enqueue_many(
        self, task: ActionTask, items: Iterable[Any], options: dict[str, Any]
    ) -> BulkHandles | None:
        """Take over one ``enqueue_many`` (its options merged into one dict), or None."""


class Actions:
    """Gadget-style background actions on a Celery app.

    ``Actions(app)`` reads ``actions_*`` settings from ``app.conf``, installs the Celery
    settings the guarantees need (as defaults under the user's), and adds a bootstep to
    every worker of the app that runs the pump and renews leases.
    """

    def __init__(self, app: Celery) -> None:
        self.app = app
        self.runtime = Runtime(app)
        apply_defaults(app)
        install(app, self.runtime)
        app.celery_actions = self  # for `celery -A proj actions ...`
        self.hold: EnqueueHold | None = None
        """Set by an integration that holds some enqueues back (see :class:`EnqueueHold`)."""

    @property
    def settings(self) -> Settings:
        """Settings, read from ``app.conf`` on first use."""
        return self.runtime.settings

    @property
    def registered(self) -> dict[str, ActionTask]:
        """Actions declared on this facade, by task name."""
        return dict(self.runtime.tasks)

    # -- declaring ---------------------------------------------------------------------

    @overload
    def action(self, fn: F, /) -> ActionTask: ...

    @overload
    def action(
        self,
        fn: None = None,
        /,
        *,
        name: str | None = None,
        celery_options: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Callable[[F], ActionTask]: ...

    def action(
        self,
        fn: F | None = None,
        /,
        *,
        name: str | None = None,
        celery_options: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> ActionTask | Callable[[F], ActionTask]:
        """Declare a function as an action (a Celery task named ``module.function``).

        Used bare (``@actions.action``) or with action-level default options in either
        spelling (``@actions.action(retries=3, queue="emails")``). ``name=`` overrides the
        task name; ``celery_queue=`` routes it to a Celery queue; ``celery_options`` are
        passed to ``app.task`` (``time_limit``, ``soft_time_limit``, ...), with ``bind``,
        ``base`` and Celery's retry settings (``autoretry_for``, ``max_retries``,
        ``retry_backoff``, ...) mapped onto the action (``client/declare.py``). An
        ``async def`` function runs on its own event loop on the worker.
        ``browser=True`` lets browsers enqueue it through the Django browser API
        (``browser="app.perm"``: only users with that permission); see
        ``celery_actions/django/browser.py``.
        """

        browser = options.pop("browser", None) or None
        if browser is not None and not isinstance(browser, str | bool):
            raise InvalidOptions(
                "browser is True, or the Django permission enqueueing it needs", field="browser"
            )

        def decorate(func: F) -> ActionTask:
            return declare(self, func, name, celery_options, options, browser=browser)

        return decorate(fn) if fn is not None else decorate

    def model_action(
        self,
        model: type[Any],
        /,
        *,
        lock: Lock = None,
        name: str | None = None,
        celery_options: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Callable[[Callable[..., Any]], ActionTask]:
        """Declare a Django model action: ``@actions.model_action(Order)`` on
        ``def ship(record: Order, carrier: str)``.

        It is enqueued with the record's id (``{"id": order.pk, "carrier": "ups"}``; the
        instance is accepted for the id); the worker loads the record, with ``lock``
        (None, ``"update"``, ``"nowait"`` or ``"skip_locked"``: ``select_for_update``)
        inside a transaction, and calls the function with it. Options as for
        :meth:`action`. Needs the Django app (``celery_actions.django``); see
        ``celery_actions/django/model_actions.py``.
        """
        from ..django.model_actions import declare_model_action

        return declare_model_action(
            self, model, lock=lock, name=name, celery_options=celery_options, options=options
        )

    def _task(self, action: ActionRef) -> ActionTask:
        if isinstance(action, ActionTask):
            return action
        name = action if isinstance(action, str) else getattr(action, "name", None)
        if not isinstance(name, str):
            qualname = getattr(action, "__qualname__", None) or type(action).__qualname__
            module = getattr(action, "__module__", None) or type(action).__module__
            name = f"{module}.{qualname}"
        try:
            return self.runtime.tasks[name]
        except KeyError:
            raise NotAnAction(
                f"{name!r} is not an action of this app; declare it with @actions.action"
            ) from None

    # -- enqueueing --------------------------------------------------------------------

    def enqueue(
        self,
        action: ActionRef,
        params: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> BackgroundActionHandle:
        """Enqueue one action; returns its handle.

        ``options`` is Gadget's dict (``{"startAt": ..., "retries": ..., "queue": ...,
        "priority": ..., "id": ..., "onDuplicateID": ...}``); the same options are
        accepted as keyword arguments (``start_at=``, ``retries=``, ...). Bad options or
        params raise InvalidOptions/InvalidParams (ValueErrors naming the field) and
        nothing is recorded or published.
        """
        task = self._task(action)
        return self.submit(task, params, parse_options(options, **kwargs))[0]

    def submit(
        self,
        task: ActionTask,
        params: Mapping[str, Any] | None,
        options: EnqueueOptions,
        carried: Mapping[str, Any] | None = None,
        *,
        rate_limited: bool = True,
    ) -> tuple[BackgroundActionHandle, EnqueueOutcome]:
        """Enqueue one action with validated options and what its messages carry besides
        params (a Celery call's canvas, headers, expires: ``celery/calls.py``); the handle
        and what became of it. ``enqueue``, ``apply_async`` and adoption come here (and go
        to :attr:`hold` first)."""
        if self.hold is not None:
            held = self.hold.submit(task, params, options, carried)
            if held is not None:
                return held, EnqueueOutcome.HELD
        runtime = self.runtime
        settings = runtime.settings
        resolved = resolve(options, task.action_defaults, settings.environment)
        now = datetime.now(UTC)
        extra = calls.with_expiry(task, calls.with_lineage(self.app, dict(carried or {})), now)
        builder = JobBuilder(
            task, resolved, runtime.envelopes, settings.max_params_bytes,
            lineage=calls.lineage(extra), carried=calls.encode(extra, settings.max_params_bytes),
            fast=calls.fast_path_allowed(extra),
        )  # fmt: skip
        job, event = builder.build(resolved.id or uuid.uuid4().hex, params)
        envelopes = runtime.envelopes
        sent = envelopes.sent_events([event]) if envelopes and event else ("", "")
        rate = runtime.rate_limit if rate_limited else None
        outcome = runtime.dispatcher.enqueue([job], resolved.on_duplicate_id, rate, sent)[0]
        if outcome is EnqueueOutcome.DUPLICATE:
            record = runtime.store.record(job.id)
            if record is not None and record.get(Field.ACTION) != task.name:
                raise DuplicateActionId(job.id)
        return BackgroundActionHandle(runtime, task.name, job.id), outcome

    def enqueue_many(
        self,
        action: ActionRef,
        items: Iterable[Item],
        options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> BulkHandles:
        """Enqueue one action per item; returns the handles in order.

        An item is a params dict, or a ``(params, options)`` pair whose options apply on
        top of the shared ones. With an ``id`` option, item i gets the id ``<id>-<i>``
        (otherwise ``<random>-<i>``). Every item is validated before anything is written:
        a bad one raises an error naming its index and field, and nothing is enqueued.
        Then items are written in chunks of 1,000, one round trip each, that record the
        jobs and, on a Redis broker, push their Celery messages and one ``task-sent``
        event message for the chunk. With an enqueue rate limit the whole batch is
        admitted, or TooManyRequests is raised and nothing is enqueued. For a Django model
        action, ``items`` may be a queryset: its ids are read a page at a time.
        """
        task = self._task(action)
        shared = dict(options or {})
        for key, value in kwargs.items():
            if key in shared:
                raise InvalidOptions(f"option {key!r} given twice", field=key)
            shared[key] = value
        if self.hold is not None:
            held = self.hold.enqueue_many(task, items, shared)
            if held is not None:
                return held
        batch = items if isinstance(items, Sequence) else list(items)
        return BulkEnqueue(self.runtime, task, batch, shared).run()

    def handle(self, action: ActionRef, action_id: str) -> BackgroundActionHandle:
        """A handle on an action enqueued earlier, from its id."""
        return BackgroundActionHandle(self.runtime, self._task(action).name, action_id)
