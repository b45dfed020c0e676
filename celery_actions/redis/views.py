"""Read-only views for people: each active queue (concurrency group), the workers, and
actions found by queue, action name or status."""

from __future__ import annotations

import sys
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from ..core.protocol import ActionStatus
from .listing import ActionFilter, ActionIndex
from .store import Store


@dataclass(frozen=True, slots=True)
class SlotHolder:
    """An action holding a slot of a queue."""

    id: str
    action: str
    status: str
    worker: str | None
    lease_expires_at: datetime


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """One named queue (concurrency group) with holders or waiters."""

    name: str
    limit: int
    """The limit the gate enforces: the latest enqueue's ``maxConcurrency``."""
    running: int
    waiting: int
    holders: list[SlotHolder]


def active_queues(store: Store, limit: int = 1000) -> list[QueueInfo]:
    """Queues that have slot holders or waiting actions, most recently active first."""
    keys = store.keys
    client = store.client
    names: list[str] = client.zrevrange(keys.groups, 0, limit - 1)  # type: ignore[assignment]
    result: list[QueueInfo] = []
    for name in names:
        pipe = client.pipeline(transaction=False)
        pipe.zrange(keys.group_slots(name), 0, -1, withscores=True)
        pipe.zcard(keys.group_waiting(name))
        pipe.hget(keys.group_limits, name)
        slots, waiting, group_limit = pipe.execute()
        pipe = client.pipeline(transaction=False)
        for job_id, _ in slots:
            pipe.hmget(keys.job(job_id), "action", "status", "worker")
        records = pipe.execute()
        holders = [
            SlotHolder(
                id=job_id,
                action=rec[0] or "?",
                status=rec[1] or "?",
                worker=rec[2] or None,
                lease_expires_at=datetime.fromtimestamp(score / 1000, UTC),
            )
            for (job_id, score), rec in zip(slots, records, strict=True)
        ]
        result.append(
            QueueInfo(
                name=name,
                limit=int(group_limit or 1),
                running=len(slots),
                waiting=int(waiting),
                holders=holders,
            )
        )
    return result


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A worker running the pump."""

    name: str
    seconds_since_heartbeat: float


def live_workers(store: Store) -> list[WorkerInfo]:
    """Workers that ran the pump, with the age of their last heartbeat."""
    now_ms = time.time() * 1000
    rows: list[tuple[str, float]] = store.client.zrange(  # type: ignore[assignment]
        store.keys.workers, 0, -1, withscores=True
    )
    return [WorkerInfo(name, (now_ms - score) / 1000) for name, score in rows]


@dataclass(frozen=True, slots=True)
class JobRow:
    """One action, as the shell lists it."""

    id: str
    action: str
    status: str
    queue: str | None
    reason: str
    due_at: datetime | None
    """When it starts (``startAt``) or retries next, if it waits for that."""


def find_jobs(
    store: Store,
    *,
    queue: str | None = None,
    action: str | None = None,
    statuses: Collection[str] = (),
) -> Iterator[JobRow]:
    """Every action matching the filters (all given must match), newest first, read from
    the status indexes the state-change scripts keep (no SCAN of the records)."""
    wanted = ActionFilter(tuple(ActionStatus(s) for s in statuses), action or "", queue or "")
    client = store.client
    fields = ("action", "status", "queue", "reason", "start_at", "next_attempt_at")
    for ids in ActionIndex(store).ids(wanted, sys.maxsize):
        pipe = client.pipeline(transaction=False)
        for action_id in ids:
            pipe.hmget(store.keys.job(action_id), *fields)
        for action_id, (name, status, group, reason, start_at, next_at) in zip(
            ids, pipe.execute(), strict=True
        ):
            if status is None or (statuses and status not in statuses):
                continue  # expired, or moved on since the index was read
            if (queue is not None and group != queue) or (action is not None and name != action):
                continue
            due = next_at if status == "retrying" else start_at if status == "scheduled" else None
            yield JobRow(
                id=action_id,
                action=name or "?",
                status=status,
                queue=group or None,
                reason=reason or "",
                due_at=None if not due else datetime.fromtimestamp(int(due) / 1000, UTC),
            )
