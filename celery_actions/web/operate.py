"""What an operator may do from the dashboard: cancel or retry one action, cancel or
retry everything a filter matches (at most ``BULK_LIMIT`` per request), change a queue's
limit, pause or resume it. Each returns a sentence for the page it redirects to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..core.limits import MAX_CONCURRENCY
from ..core.protocol import ActionStatus, Field, QueueOp
from ..redis.listing import ActionIndex
from .actions import bulk_filter
from .pages import parse_filter

if TYPE_CHECKING:
    from ..celery.runtime import Runtime

BULK_LIMIT = 50_000
"""Actions one bulk request changes at most (run it again for more)."""
RERUN = (ActionStatus.FAILED.value, ActionStatus.CANCELLED.value)


class OperationRefused(ValueError):
    """An operation the form does not allow (a bad limit, an unknown operation)."""


def operate(runtime: Runtime, form: Mapping[str, str]) -> tuple[str, str]:
    """Carry out the form's operation; returns (message, where to go: a dashboard path
    with its query)."""
    op = form.get("op", "")
    dispatcher = runtime.dispatcher
    if op in ("cancel", "retry"):
        action_id = form.get("id", "")
        if runtime.store.record(action_id) is None:
            raise OperationRefused(f"no action {action_id!r}")
        changed = (_cancel if op == "cancel" else retry_now)(runtime, [action_id])
        verb = "cancelled" if op == "cancel" else "retried"
        done = f"{action_id} {verb}" if changed else f"{action_id} left as it is ({op})"
        return done, f"action/?id={action_id}"
    if op in ("bulk-cancel", "bulk-retry"):
        kind = op.removeprefix("bulk-")
        target = bulk_filter(kind, parse_filter(form))
        total = 0
        if target is not None:
            for ids in ActionIndex(runtime.store).ids(target, BULK_LIMIT):
                total += (_cancel if kind == "cancel" else retry_now)(runtime, ids)
        verb = "cancelled" if kind == "cancel" else "retried"
        kept = "&".join(
            f"{k}={form[k]}" for k in ("status", "action", "queue", "window") if form.get(k)
        )
        return f"{total:,} action(s) {verb}", f"list/?{kept}"
    if op in {q.value for q in QueueOp}:
        queue = form.get("queue", "").strip()
        if not queue:
            raise OperationRefused("which queue?")
        limit = 0
        if op == QueueOp.LIMIT:
            try:
                limit = int(form.get("limit", ""))
            except ValueError:
                raise OperationRefused("the limit is a whole number") from None
            if not 1 <= limit <= MAX_CONCURRENCY:
                raise OperationRefused(f"a limit is from 1 to {MAX_CONCURRENCY}")
        dispatcher.queue_admin(queue, QueueOp(op), limit)
        said = {
            "limit": f"limit {limit}",
            "unlimit": "the enqueues' limit again",
            "pause": "paused",
            "resume": "resumed",
        }[op]
        return f"queue {queue}: {said}", "queues/"
    raise OperationRefused(f"unknown operation {op!r}")


def _cancel(runtime: Runtime, ids: list[str]) -> int:
    outcomes = runtime.dispatcher.cancel_many(ids)
    backend = runtime.app.backend
    for action_id, outcome in zip(ids, outcomes, strict=True):
        if outcome == "cancelled":
            backend.mark_as_revoked(action_id, "cancelled")
    return sum(1 for o in outcomes if o in ("cancelled", "running"))


def retry_now(runtime: Runtime, ids: list[str]) -> int:
    """Retry now (the dashboard's and ``celery actions retry``'s): a scheduled or retrying
    action is made ready at once, a failed or cancelled one runs again with a fresh retry
    budget, its stored result removed first (so that ``result()`` waits for the new run).
    Returns how many changed."""
    client, keys = runtime.store.client, runtime.store.keys
    pipe = client.pipeline(transaction=False)
    for action_id in ids:
        pipe.hget(keys.job(action_id), Field.STATUS)
    backend = runtime.app.backend
    for action_id, status in zip(ids, pipe.execute(), strict=True):
        if status in RERUN:
            backend.forget(action_id)
    return sum(1 for o in runtime.dispatcher.retry_now(ids) if o == "retried")
