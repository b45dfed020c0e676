"""Read-only views for people: each active queue (concurrency group), the workers, and
actions found by queue, action name or status."""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

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


SCAN_COUNT = 1000


def find_jobs(
    store: Store,
    *,
    queue: str | None = None,
    action: str | None = None,
    statuses: Collection[str] = (),
) -> Iterator[JobRow]:
    """Every action matching the filters (all given must match), by a SCAN over the job
    records: seconds for a million records, fine for the shell."""
    client = store.client
    prefix = store.keys.job("")
    fields = ("action", "status", "queue", "reason", "start_at", "next_attempt_at")
    for keys in _batches(client.scan_iter(match=store.keys.job_pattern, count=SCAN_COUNT)):
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, *fields)
        for key, (name, status, group, reason, start_at, next_at) in zip(
            keys, pipe.execute(), strict=True
        ):
            if status is None or (statuses and status not in statuses):
                continue
            if (queue is not None and group != queue) or (action is not None and name != action):
                continue
            due = next_at if status == "retrying" else start_at if status == "scheduled" else None
            yield JobRow(
                id=key[len(prefix) :],
                action=name or "?",
                status=status,
                queue=group or None,
                reason=reason or "",
                due_at=None if not due else datetime.fromtimestamp(int(due) / 1000, UTC),
            )


def _batches(keys: Iterable[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    for key in keys:
        batch.append(key)
        if len(batch) >= SCAN_COUNT:
            yield batch
            batch = []
    if batch:
        yield batch
