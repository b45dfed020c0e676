"""Bulk enqueue: validate every item, then write chunks of 1,000 at Redis speed.

Pass 1 validates every item and keeps nothing but per-item ids (memory stays flat). Pass 2
builds chunk k+1 while Redis writes chunk k: each chunk is one round trip that records the
jobs and, on a Redis broker, pushes their Celery messages and one ``task-sent`` event
message for the chunk. Only one chunk is in flight; its reply is read once the next chunk
is built.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..core.options import EnqueueOptions, parse_options
from ..core.params import check_size
from ..core.protocol import EnqueueOutcome
from ..core.resolve import ResolvedOptions, resolve
from ..errors import DuplicateActionId, InvalidOptions, InvalidParams
from ..redis.records import NewJob, OnDuplicate
from ..redis.writer import PendingEnqueue
from .builder import JobBuilder
from .bulk_handles import BulkHandles

if TYPE_CHECKING:
    from ..celery.runtime import Runtime
    from ..celery.task import ActionTask

CHUNK = 1000
Item = Mapping[str, Any] | tuple[Mapping[str, Any], Mapping[str, Any]]


def split_item(item: Any) -> tuple[Any, Mapping[str, Any] | None]:
    """A bulk item's params and its own options (None when it has none)."""
    if isinstance(item, tuple):
        if len(item) != 2:
            raise InvalidParams("a bulk item is a params dict or a (params, options) pair")
        return item[0], item[1]
    return item, None


@dataclass(frozen=True, slots=True)
class CheckedItem:
    """A bulk item that passed validation."""

    params_json: str
    options: EnqueueOptions | None
    """Its own options merged over the shared ones; None when it has none."""
    own_id: str | None
    """The id its own options give it, if any."""


def check_item(
    index: int, item: Any, shared: Mapping[str, Any], dump: Callable[[Any], str]
) -> CheckedItem:
    """Validate bulk item ``index`` (params dumped by ``dump``, its own options over the
    shared ones); an error names the item and its field."""
    params, own = split_item(item)
    try:
        call = own_id = None
        if own:
            if {"onDuplicateID", "on_duplicate_id"} & set(own):
                raise InvalidOptions(
                    "onDuplicateID applies to the whole batch; pass it in the shared options",
                    field="onDuplicateID",
                )
            call = parse_options({**shared, **own})
            if "id" in own:
                own_id = call.id
        return CheckedItem(dump(params), call, own_id)
    except (InvalidOptions, InvalidParams) as exc:
        raise type(exc)(f"item {index}: {exc}", field=f"[{index}].{exc.field}") from None


def sized_dump(task: ActionTask, max_params_bytes: int) -> Callable[[Any], str]:
    """The action's params dump, refusing params over ``actions_max_params_bytes``."""
    dump = task.params_model.dump_json

    def dump_sized(params: Any) -> str:
        text = dump(params)
        check_size(text, max_params_bytes, task.name)
        return text

    return dump_sized


@dataclass(frozen=True, slots=True)
class _Chunk:
    """A chunk sent to Redis, and the sent events to publish once its outcome is known."""

    jobs: list[NewJob]
    events: list[str]
    pending: PendingEnqueue


class BulkEnqueue:
    """One ``enqueue_many`` call."""

    def __init__(
        self, runtime: Runtime, task: ActionTask, items: Sequence[Item], shared: dict[str, Any]
    ) -> None:
        self.runtime = runtime
        self.task = task
        self.items = items
        self.shared = shared
        self.base: EnqueueOptions = parse_options(shared)
        self.resolved = self._resolve(self.base)

    def _resolve(self, options: EnqueueOptions) -> ResolvedOptions:
        return resolve(options, self.task.action_defaults, self.runtime.settings.environment)

    def run(self) -> BulkHandles:
        """Validate every item, then write them; the handles in order."""
        overrides = self._validate()
        handles = BulkHandles(
            self.runtime, self.task.name, self.base.id or uuid.uuid4().hex, len(self.items),
            overrides,
        )  # fmt: skip
        on_duplicate = self._on_duplicate(handles)
        rate = self.runtime.rate_limit
        if rate is not None and self.items:
            self.runtime.writer.take_rate(rate, len(self.items))
        self._write(handles, on_duplicate)
        return handles

    def _validate(self) -> dict[int, str]:
        """Pass 1: validate every item; returns the items' own ids, by index."""
        overrides: dict[int, str] = {}
        dump = sized_dump(self.task, self.runtime.settings.max_params_bytes)
        for index, item in enumerate(self.items):
            own_id = check_item(index, item, self.shared, dump).own_id
            if own_id is not None:
                overrides[index] = own_id
        return overrides

    def _on_duplicate(self, handles: BulkHandles) -> OnDuplicate:
        if self.resolved.on_duplicate_id == "ignore":
            return "ignore"
        if self.base.id is None and not handles.overrides:
            return "new"  # ids <random>-<i> cannot be taken
        if len(handles) > CHUNK or handles.overrides:
            self._check_free(handles)  # across chunks (each chunk is checked atomically)
        return "error"

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
        for start in range(0, len(handles), CHUNK):
            chunk = [handles.id(i) for i in range(start, min(start + CHUNK, len(handles)))]
            taken = self.runtime.writer.taken_ids(chunk)
            if taken:
                raise DuplicateActionId(taken[0])

    def _write(self, handles: BulkHandles, on_duplicate: OnDuplicate) -> None:
        """Pass 2: build chunk k+1 while Redis writes chunk k."""
        envelopes = self.runtime.envelopes
        lineage = envelopes.lineage() if envelopes is not None else None
        limit = self.runtime.settings.max_params_bytes
        builder = JobBuilder(self.task, self.resolved, envelopes, limit, lineage)
        own_builders: dict[ResolvedOptions, JobBuilder] = {}  # items with their own options
        in_flight: _Chunk | None = None
        overrides, base = handles.overrides, handles.base
        try:
            for start in range(0, len(self.items), CHUNK):
                jobs: list[NewJob] = []
                events: list[str] = []
                builder.restamp()
                own_builders.clear()
                for index in range(start, min(start + CHUNK, len(self.items))):
                    params, own = split_item(self.items[index])
                    item_builder = builder
                    if own and own.keys() != {"id"}:  # an own id alone is in handles already
                        resolved = self._resolve(parse_options({**self.shared, **own}))
                        same = replace(resolved, id=None)  # builders do not depend on the id
                        item_builder = own_builders.get(same) or own_builders.setdefault(
                            same, JobBuilder(self.task, resolved, envelopes, limit, lineage)
                        )
                    job_id = overrides.get(index) or f"{base}-{index}"  # handles.id(index), inlined
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

    def _send_chunk(
        self, jobs: list[NewJob], events: list[str], on_duplicate: OnDuplicate
    ) -> _Chunk:
        """Send one chunk; with all-or-nothing writes, its sent events too."""
        envelopes = self.runtime.envelopes
        sent = ("", "")
        if envelopes is not None and on_duplicate != "ignore":
            sent = envelopes.sent_events([e for e in events if e])  # published if written
            events = []
        pending = self.runtime.writer.send(jobs, on_duplicate, sent_event=sent)
        return _Chunk(jobs, events, pending)

    def _finish_chunk(self, chunk: _Chunk) -> None:
        """Read a chunk's outcome and publish what it dispatched and, after ignored
        duplicates, the sent events of the others."""
        runtime = self.runtime
        outcomes = runtime.dispatcher.complete(chunk.jobs, chunk.pending)
        fresh = [
            event
            for event, outcome in zip(chunk.events, outcomes, strict=False)
            if event and outcome is not EnqueueOutcome.DUPLICATE
        ]
        if fresh and runtime.envelopes is not None:
            runtime.store.client.publish(*runtime.envelopes.sent_events(fresh))
