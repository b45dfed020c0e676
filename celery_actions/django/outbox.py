"""Enqueue inside ``transaction.atomic()``: a real handle at once, published on commit.

:class:`TransactionHold` is the facade's hold (``Actions.hold``). Inside an atomic block of
the followed database (``CELERY_ACTIONS_DATABASE``) an enqueue is validated, given its id
and written to the outbox table in the same transaction; its handle is returned at once.
When the outermost transaction commits, the enqueuing process publishes it
(``transaction.on_commit``); after a rollback there is neither a row nor a callback, so it
never runs. Outside a transaction, or with ``CELERY_ACTIONS_ON_COMMIT = False``, enqueues
publish at once. ``enqueue_many`` follows the same rule, writing one row per item.

The rows a process did not publish are relayed by every worker's pump (``relay.py``).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, connections, transaction
from django.db.models import QuerySet
from django.utils import timezone
from kombu.utils.json import dumps as kombu_dumps
from kombu.utils.json import loads as kombu_loads

from ..celery import calls
from ..client.bulk import BulkEnqueue, check_item, sized_dump
from ..client.bulk_handles import BulkHandles
from ..client.handles import BackgroundActionHandle
from ..client.identity import current_identity, enqueued_by
from ..core.options import EnqueueOptions, parse_options
from ..core.resolve import resolve
from ..errors import DuplicateActionId, InvalidParams
from .conf import DjangoSettings
from .model_actions import ModelParams, records
from .models import OutboxEntry

if TYPE_CHECKING:
    from ..celery.task import ActionTask
    from ..client.facade import Actions

logger = logging.getLogger("celery_actions")
CHUNK = 1000
"""Rows written, read or published per statement."""
ROW_FIELDS = ("id", "action", "params", "options", "batch", "seq")
"""The columns an :class:`OutboxRow` is read from, in its field order."""
_COLUMNS = (*ROW_FIELDS, "created_at")
_publishing: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "celery_actions_publishing", default=False
)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """An outbox row as written and published."""

    id: str
    action: str
    params: str
    options: str
    batch: str = ""
    seq: int = 0


CARRIED, IDENTITY = "_celery", "_identity"
"""Keys of an outbox row's options JSON beside the enqueue options: what a Celery call's
messages carry (canvas, headers, expires; kombu JSON) and the browser identity."""


def _options_json(parsed: Any, carried: Mapping[str, Any] | None = None) -> str:
    data = parsed.model_dump(mode="json", exclude_unset=True)
    data.pop("id", None)
    data.pop("on_duplicate_id", None)
    if carried:
        data[CARRIED] = kombu_dumps(dict(carried))  # type: ignore[no-untyped-call]
    identity = current_identity()
    if identity:
        data[IDENTITY] = identity
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


class TransactionHold:
    """Holds enqueues made inside a transaction until it commits (see the module doc)."""

    def __init__(self, actions: Actions, settings: DjangoSettings) -> None:
        self.actions = actions
        self.settings = settings
        self._sql: str | None = None

    def _in_transaction(self) -> bool:
        if not self.settings.on_commit or _publishing.get():
            return False
        return bool(connections[self.settings.database].in_atomic_block)

    # -- one ---------------------------------------------------------------------------

    def submit(
        self,
        task: ActionTask,
        params: Mapping[str, Any] | None,
        options: EnqueueOptions,
        carried: Mapping[str, Any] | None,
    ) -> BackgroundActionHandle | None:
        """Inside a transaction: write the outbox row, publish on commit; else None.
        ``enqueue``, ``.delay()``/``apply_async`` (with what their messages carry) and
        browser enqueues (with their identity) alike."""
        if not self._in_transaction():
            return None
        parsed = options
        settings = self.actions.settings
        resolved = resolve(parsed, task.action_defaults, settings.environment)
        params_json = sized_dump(task, settings.max_params_bytes)(params)
        # what the messages carry is fixed now, as outside a transaction: the lineage of the
        # task enqueuing it, the action's own expiry from now, refused here if too big
        carried = calls.with_expiry(
            task, calls.with_lineage(self.actions.app, dict(carried or {})), datetime.now(UTC)
        )
        calls.encode(carried, settings.max_params_bytes)
        handle = BackgroundActionHandle(self.actions.runtime, task.name, "")
        if resolved.id is None:
            handle.id = uuid.uuid4().hex
        else:
            handle.id = resolved.id
            if self.actions.runtime.writer.taken_ids([resolved.id]):
                if resolved.on_duplicate_id == "ignore":
                    return handle
                raise DuplicateActionId(resolved.id)
        row = OutboxRow(handle.id, task.name, params_json, _options_json(parsed, carried))
        try:
            self._write([row], given_ids=resolved.id is not None)
        except DuplicateActionId:
            if resolved.on_duplicate_id == "ignore":  # enqueued earlier in this transaction
                return handle
            raise
        transaction.on_commit(
            lambda: self.publish([row]), using=self.settings.database, robust=True
        )
        return handle

    def _write(self, rows: Sequence[OutboxRow], *, given_ids: bool) -> None:
        """Insert the rows (one statement; a raw INSERT costs a third of ``bulk_create``).
        Given ids may clash: then in a savepoint, so the caller's transaction survives."""
        if not given_ids:  # random ids cannot clash: no savepoint needed
            self._insert(rows)
            return
        database = self.settings.database
        try:
            with transaction.atomic(using=database):
                self._insert(rows)
        except IntegrityError:
            taken = OutboxEntry.objects.using(database).filter(id__in=[r.id for r in rows])
            raise DuplicateActionId(str(taken.values_list("id", flat=True).first())) from None

    def _insert(self, rows: Sequence[OutboxRow]) -> None:
        connection = connections[self.settings.database]
        if self._sql is None:
            meta = OutboxEntry._meta
            quote = connection.ops.quote_name
            columns = ", ".join(quote(meta.get_field(name).column) for name in _COLUMNS)
            marks = ", ".join(["%s"] * len(_COLUMNS))
            self._sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({marks})"
        created_at = connection.ops.adapt_datetimefield_value(timezone.now())
        values = [(r.id, r.action, r.params, r.options, r.batch, r.seq, created_at) for r in rows]
        with connection.cursor() as cursor:
            if len(values) == 1:
                cursor.execute(self._sql, values[0])
            else:
                cursor.executemany(self._sql, values)

    # -- many --------------------------------------------------------------------------

    def enqueue_many(
        self, task: ActionTask, items: Iterable[Any], options: dict[str, Any]
    ) -> BulkHandles | None:
        """Inside a transaction: one outbox row per item, published on commit. Outside,
        a queryset of a model action is streamed; anything else goes ahead (None)."""
        if isinstance(items, QuerySet):
            if not isinstance(task.params_model, ModelParams):
                raise InvalidParams(
                    f"{task.name} is not a model action: enqueue_many takes a queryset only "
                    "for model actions",
                    field=None,
                )
            items = records(items)
        if not self._in_transaction():
            if isinstance(items, records):
                return BulkEnqueue(self.actions.runtime, task, items, options).run()
            return None
        parsed = parse_options(options)
        resolved = resolve(parsed, task.action_defaults, self.actions.settings.environment)
        base = resolved.id or uuid.uuid4().hex
        shared_json = _options_json(parsed)
        with transaction.atomic(using=self.settings.database):  # a savepoint
            count, overrides = self._write_items(task, items, options, base, shared_json)
            handles = BulkHandles(self.actions.runtime, task.name, base, count, overrides)
            if resolved.on_duplicate_id != "ignore" and (resolved.id is not None or overrides):
                ids = list(handles.ids())
                for start in range(0, len(ids), CHUNK):
                    taken = self.actions.runtime.writer.taken_ids(ids[start : start + CHUNK])
                    if taken:
                        raise DuplicateActionId(taken[0])
        transaction.on_commit(
            lambda: self.publish_batch(base), using=self.settings.database, robust=True
        )
        return handles

    def _write_items(
        self,
        task: ActionTask,
        items: Iterable[Any],
        shared: dict[str, Any],
        base: str,
        shared_json: str,
    ) -> tuple[int, dict[int, str]]:
        """Validate and write the rows of a batch, a chunk at a time; (count, own ids)."""
        dump = sized_dump(task, self.actions.settings.max_params_bytes)
        overrides: dict[int, str] = {}
        chunk: list[OutboxRow] = []
        count = 0
        given = "id" in shared
        for index, item in enumerate(items):
            checked = check_item(index, item, shared, dump)
            params_json, row_id = checked.params_json, f"{base}-{index}"
            options_json = (
                shared_json if checked.options is None else _options_json(checked.options)
            )
            if checked.own_id is not None:
                row_id = overrides[index] = checked.own_id
                given = True
            chunk.append(OutboxRow(row_id, task.name, params_json, options_json, base, index))
            count += 1
            if len(chunk) >= CHUNK:
                self._write(chunk, given_ids=given)
                chunk = []
        if chunk:
            self._write(chunk, given_ids=given)
        return count, overrides

    # -- publishing --------------------------------------------------------------------

    def publish(self, rows: Sequence[OutboxRow]) -> list[OutboxRow]:
        """Enqueue rows for real, each under its id (ids already in Redis are skipped);
        returns the rows that could not be published (logged)."""
        failed: list[OutboxRow] = []
        token = _publishing.set(True)
        try:
            for (action, options_json), group in groupby(sorted(rows, key=_group), key=_group):
                batch = list(group)
                options = {**json.loads(options_json), "on_duplicate_id": "ignore"}
                carried = options.pop(CARRIED, None)
                identity = options.pop(IDENTITY, "")
                try:
                    with enqueued_by(identity) if identity else contextlib.nullcontext():
                        self._publish(action, batch, options, carried)
                except Exception:
                    logger.exception(
                        "celery-actions: could not publish %d committed %s action(s) (%s...); "
                        "the outbox keeps them",
                        len(batch), action, batch[0].id,
                    )  # fmt: skip
                    failed.extend(batch)
        finally:
            _publishing.reset(token)
        return failed

    def _publish(
        self, action: str, batch: list[OutboxRow], options: dict[str, Any], carried: str | None
    ) -> None:
        if carried is not None:  # a Celery call's: each with what its messages carry
            task = self.actions.registered[action]
            for row in batch:
                parsed = parse_options({**options, "id": row.id})
                extra = kombu_loads(carried)  # type: ignore[no-untyped-call]
                self.actions.submit(task, json.loads(row.params), parsed, extra)
        elif len(batch) == 1:
            row = batch[0]
            self.actions.enqueue(action, json.loads(row.params), options, id=row.id)
        else:
            items = [(json.loads(r.params), {"id": r.id}) for r in batch]
            self.actions.enqueue_many(action, items, options)

    def publish_batch(self, base: str) -> None:
        """Publish the rows of one ``enqueue_many``, a chunk at a time."""
        for rows in _pages(
            OutboxEntry.objects.using(self.settings.database).filter(batch=base), "seq"
        ):
            self.publish(rows)


def _group(row: OutboxRow) -> tuple[str, str]:
    return row.action, row.options


def _pages(queryset: QuerySet[OutboxEntry], order: str) -> Iterator[list[OutboxRow]]:
    """Rows in pages of CHUNK, by ``order`` (keyset pagination)."""
    last: Any = None
    while True:
        page = queryset.order_by(order)
        if last is not None:
            page = page.filter(**{f"{order}__gt": last})
        rows = [OutboxRow(*values) for values in page.values_list(*ROW_FIELDS)[:CHUNK]]
        if not rows:
            return
        yield rows
        last = getattr(rows[-1], order)
