"""The Actions facade: declare actions, enqueue them, get handles."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, TypeVar, overload

from celery import Celery

from .bulk import BulkHandles
from .celery_config import apply_defaults, priority_map
from .dispatch import Publisher
from .errors import ActionsError, DuplicateActionId, InvalidOptions, InvalidParams
from .fastpath import Envelopes, JobEnvelopes, Lineage, Template
from .handles import BackgroundActionHandle
from .options import ResolvedOptions, parse_options, resolve
from .params import ParamsModel
from .ratelimit import RateLimit
from .results import ResultWriter
from .settings import Settings
from .store import Dispatch, JobSpec, NewJob, OnDuplicate, PendingEnqueue, Store
from .task import ActionTask

logger = logging.getLogger("celery_actions")

F = TypeVar("F", bound=Callable[..., Any])
ActionRef = ActionTask | str | Callable[..., Any]
BULK_CHUNK = 1000


def _split_item(item: Any) -> tuple[Any, Mapping[str, Any] | None]:
    if isinstance(item, tuple):
        if len(item) != 2:
            raise InvalidParams("a bulk item is a params dict or a (params, options) pair")
        return item[0], item[1]
    return item, None


def _options_json(resolved: ResolvedOptions) -> str:
    """What the worker needs of the options, as stored in the job record."""
    return json.dumps({"retry": resolved.retry.to_json()}, separators=(",", ":"))


class Actions:
    """Gadget-style background actions on a Celery app.

    ``Actions(app)`` reads ``actions_*`` settings from ``app.conf``, installs the Celery
    settings the guarantees need (as defaults under the user's), and adds a bootstep to
    every worker of the app that runs the pump and renews leases.
    """

    def __init__(self, app: Celery) -> None:
        self.app = app
        self._tasks: dict[str, ActionTask] = {}
        apply_defaults(app)
        from .worker import install

        install(app, self)
        app.celery_actions = self

    # -- wiring ------------------------------------------------------------------------

    @cached_property
    def settings(self) -> Settings:
        """Settings, read from ``app.conf`` on first use."""
        return Settings.from_conf(self.app.conf)

    @cached_property
    def store(self) -> Store:
        """Job records and state changes in Redis."""
        return Store(self.settings)

    @cached_property
    def publisher(self) -> Publisher:
        """Sends job messages to the broker."""
        return Publisher(self.app, self.store, priority_map(self.app))

    @cached_property
    def rate_limit(self) -> RateLimit | None:
        """The enqueue rate limit, if one is set."""
        s = self.settings
        return RateLimit.parse(s.enqueue_rate_limit, s.enqueue_burst, s.environment)

    @cached_property
    def result_writer(self) -> ResultWriter | None:
        """Writes result metas inside finish.lua, when the result backend is this Redis."""
        return ResultWriter.for_app(self.app, self.settings.redis_url)

    @cached_property
    def envelopes(self) -> Envelopes | None:
        """The Redis broker fast path for bulk enqueue, when the broker allows it."""
        return Envelopes.for_app(self.app, self.settings.redis_url, priority_map(self.app))

    @property
    def registered(self) -> dict[str, ActionTask]:
        """Actions declared on this facade, by task name."""
        return dict(self._tasks)

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
        passed to ``app.task`` (``time_limit``, ``soft_time_limit``, ...).
        """

        def decorate(func: F) -> ActionTask:
            defaults = parse_options(None, **options) if options else None
            if defaults is not None and "id" in defaults.model_fields_set:
                raise InvalidOptions("'id' is per enqueue, not an action default", field="id")
            task_name = name or f"{func.__module__}.{func.__qualname__}"
            task_options: dict[str, Any] = dict(celery_options or {})
            if defaults is not None and defaults.celery_queue:
                task_options.setdefault("queue", defaults.celery_queue)
            task = self.app.task(
                name=task_name,
                base=ActionTask,
                bind=False,
                shared=False,
                lazy=False,
                actions=self,
                params_model=ParamsModel(func, task_name),
                action_defaults=defaults,
                **task_options,
            )(func)
            self._tasks[task_name] = task
            return task  # type: ignore[no-any-return]

        return decorate(fn) if fn is not None else decorate

    def _task(self, action: ActionRef) -> ActionTask:
        if isinstance(action, ActionTask):
            return action
        if isinstance(action, str):
            name = action
        else:
            name = getattr(action, "name", None) or f"{action.__module__}.{action.__qualname__}"
        try:
            return self._tasks[name]
        except KeyError:
            raise ActionsError(
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
        resolved = resolve(parse_options(options, **kwargs), task.action_defaults,
                           self.settings.environment)  # fmt: skip
        job, event = _JobBuilder(self, task, resolved).build(
            resolved.id or uuid.uuid4().hex, params
        )
        sent = self.envelopes.sent_events([event]) if self.envelopes and event else ("", "")
        outcomes, dispatch = self.store.enqueue(
            [job], resolved.on_duplicate_id, self.rate_limit, sent
        )
        if outcomes[0] == "duplicate":
            return self._existing(task, job.id)
        self._publish(dispatch)
        self._announce([job], outcomes)
        return BackgroundActionHandle(self, task.name, job.id)

    def enqueue_many(
        self,
        action: ActionRef,
        items: Iterable[Mapping[str, Any] | tuple[Mapping[str, Any], Mapping[str, Any]]],
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
        admitted, or TooManyRequests is raised and nothing is enqueued.
        """
        task = self._task(action)
        batch = items if isinstance(items, Sequence) else list(items)
        shared = dict(options or {})
        for key, value in kwargs.items():
            if key in shared:
                raise InvalidOptions(f"option {key!r} given twice", field=key)
            shared[key] = value
        base = parse_options(shared)
        defaults = task.action_defaults
        environment = self.settings.environment
        shared_resolved = resolve(base, defaults, environment)

        # Pass 1: validate every item, keeping nothing but per-item ids.
        overrides: dict[int, str] = {}
        dump = task.params_model.dump_json
        for index, item in enumerate(batch):
            params, own = _split_item(item)
            try:
                if own:
                    if {"onDuplicateID", "on_duplicate_id"} & set(own):
                        raise InvalidOptions(
                            "onDuplicateID applies to the whole batch; pass it in the shared "
                            "options",
                            field="onDuplicateID",
                        )
                    call = parse_options({**shared, **own})
                    if "id" in own and call.id is not None:
                        overrides[index] = call.id
                dump(params)
            except (InvalidOptions, InvalidParams) as exc:
                raise type(exc)(f"item {index}: {exc}", field=f"[{index}].{exc.field}") from None
        handles = BulkHandles(self, task.name, base.id or uuid.uuid4().hex, len(batch), overrides)
        on_duplicate: OnDuplicate
        if shared_resolved.on_duplicate_id == "ignore":
            on_duplicate = "ignore"
        elif base.id is None and not overrides:
            on_duplicate = "new"  # ids <random>-<i> cannot be taken
        else:
            on_duplicate = "error"
            if len(batch) > BULK_CHUNK or overrides:
                # Across chunks (one chunk is checked atomically by enqueue.lua).
                self._check_free(handles)
        if self.rate_limit is not None and batch:
            self.store.take_rate(self.rate_limit, len(batch))

        # Pass 2: build chunk k+1 while Redis writes chunk k (one chunk in flight at a time;
        # its reply is read only once the next one is built).
        lineage = self.envelopes.lineage() if self.envelopes is not None else None
        builder = _JobBuilder(self, task, shared_resolved, lineage)
        in_flight: _Chunk | None = None
        try:
            for start in range(0, len(batch), BULK_CHUNK):
                jobs: list[NewJob] = []
                events: list[str] = []
                builder.restamp()
                own_builders: dict[ResolvedOptions, _JobBuilder] = {}  # items with own options
                for index in range(start, min(start + BULK_CHUNK, len(batch))):
                    params, own = _split_item(batch[index])
                    item_builder = builder
                    if own and own.keys() != {"id"}:  # an own id alone is in handles already
                        resolved = resolve(parse_options({**shared, **own}), defaults, environment)
                        same = replace(resolved, id=None)  # builders do not depend on the id
                        item_builder = own_builders.get(same) or own_builders.setdefault(
                            same, _JobBuilder(self, task, resolved, lineage)
                        )
                    job_id = overrides.get(index) or f"{handles.base}-{index}"  # handles.id
                    job, event = item_builder.build(job_id, params)
                    jobs.append(job)
                    events.append(event)
                if in_flight is not None:
                    chunk, in_flight = in_flight, None
                    self._finish_chunk(chunk)
                in_flight = self._send_chunk(jobs, events, on_duplicate)
        finally:
            if in_flight is not None:  # also when interrupted: read its reply, free the connection
                self._finish_chunk(in_flight)
        return handles

    def _send_chunk(
        self, jobs: list[NewJob], events: list[str], on_duplicate: OnDuplicate
    ) -> _Chunk:
        """Send one chunk of a bulk; with all-or-nothing writes, its sent events too."""
        envelopes = self.envelopes
        sent = ("", "")
        if envelopes is not None and on_duplicate != "ignore":
            sent = envelopes.sent_events([e for e in events if e])  # published if written
            events = []
        return _Chunk(jobs, events, self.store.send_enqueue(jobs, on_duplicate, sent_event=sent))

    def _finish_chunk(self, chunk: _Chunk) -> None:
        """Read a chunk's outcome, then publish what the store left to kombu and, after
        ignored duplicates, the sent events of the others."""
        outcomes, dispatch = chunk.pending.result()
        fresh = [e for e, o in zip(chunk.events, outcomes, strict=False) if e and o != "duplicate"]
        if fresh and self.envelopes is not None:
            self.store.client.publish(*self.envelopes.sent_events(fresh))
        self._publish(dispatch)
        self._announce(chunk.jobs, outcomes)

    def _check_free(self, handles: BulkHandles) -> None:
        """Raise DuplicateActionId if an id of the batch is taken or repeated.

        Generated ids (``<base>-<i>``) are distinct by construction; only per-item ids can
        repeat, so only they are remembered (memory stays flat for long batches).
        """
        overrides = handles.overrides
        seen: set[str] = set()
        for action_id in overrides.values():
            base, _, number = action_id.rpartition("-")
            clash = base == handles.base and number.isdigit() and int(number) < len(handles)
            if action_id in seen or (clash and int(number) not in overrides):
                raise DuplicateActionId(action_id)
            seen.add(action_id)
        for start in range(0, len(handles), BULK_CHUNK):
            chunk = [handles.id(i) for i in range(start, min(start + BULK_CHUNK, len(handles)))]
            taken = self.store.taken_ids(chunk)
            if taken:
                raise DuplicateActionId(taken[0])

    def _announce(self, jobs: Sequence[NewJob], outcomes: Sequence[str]) -> None:
        """Send ``task-sent`` for scheduled jobs whose event enqueue.lua did not publish."""
        self.publisher.announce_scheduled(
            [
                job
                for job, outcome in zip(jobs, outcomes, strict=True)
                if outcome == "scheduled" and job.start_at_ms is not None and not job.envelope
            ]
        )

    def _existing(self, task: ActionTask, job_id: str) -> BackgroundActionHandle:
        record = self.store.record(job_id)
        if record is not None and record.get("action") != task.name:
            raise DuplicateActionId(job_id)
        return BackgroundActionHandle(self, task.name, job_id)

    def _publish(self, dispatch: Dispatch) -> None:
        try:
            self.publisher.publish(dispatch)
        except Exception:
            # The jobs are recorded and stay in the outbox: a worker's pump publishes them
            # once the outbox reservation lapses (actions_outbox_timeout).
            logger.exception("celery-actions: publish failed; the pump will retry it")

    def handle(self, action: ActionRef, action_id: str) -> BackgroundActionHandle:
        """A handle on an action enqueued earlier, from its id."""
        return BackgroundActionHandle(self, self._task(action).name, action_id)


@dataclass(frozen=True, slots=True)
class _Chunk:
    """A bulk chunk sent to Redis, and the sent events to publish once its outcome is known."""

    jobs: list[NewJob]
    events: list[str]
    pending: PendingEnqueue


class _JobBuilder:
    """Builds the jobs of one spec: params JSON and, on the fast path, the Celery envelope
    and the ``task-sent`` event body (the hot loop of ``enqueue_many``)."""

    __slots__ = ("_dump", "_envelopes", "_stamped", "spec", "start_at_ms")

    def __init__(
        self,
        actions: Actions,
        task: ActionTask,
        resolved: ResolvedOptions,
        lineage: Lineage | None = None,
    ) -> None:
        self._dump = task.params_model.dump_json
        envelopes = actions.envelopes
        route = (
            None if envelopes is None else envelopes.route(task.name, resolved.celery_queue or "")
        )
        self.spec = JobSpec(
            action=task.name,
            options_json=_options_json(resolved),
            priority=resolved.priority.value,
            queue=resolved.queue or "",
            limit=resolved.max_concurrency,
            celery_queue=resolved.celery_queue or "",
            list_key="" if route is None else route.list_keys[resolved.priority],
        )
        self.start_at_ms = resolved.start_at_ms
        self._envelopes: JobEnvelopes | None = None
        self._stamped: Template | None = None  # a batch's stamped sent-event template
        if route is not None and envelopes is not None:
            eta = None if resolved.start_at is None else resolved.start_at.isoformat()
            lineage = lineage or envelopes.lineage()
            self._envelopes = envelopes.for_jobs(route, resolved.priority, lineage, eta)

    def restamp(self) -> None:
        """Take the time and a clock tick for the sent events of the batch built next."""
        if self._envelopes is not None:
            self._stamped = self._envelopes.stamped()

    def build(self, job_id: str, params: Mapping[str, Any] | None) -> tuple[NewJob, str]:
        """Validate params; return the job and its sent event body ('' if none)."""
        params_json = self._dump(params)
        if self._envelopes is None:
            return NewJob(job_id, self.spec, params_json, self.start_at_ms), ""
        envelope, event = self._envelopes.build(job_id, params_json, self._stamped)
        return NewJob(job_id, self.spec, params_json, self.start_at_ms, envelope), event
