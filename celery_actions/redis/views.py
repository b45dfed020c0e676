"""Read-only views for people: each active queue (concurrency group) and the workers."""

from __future__ import annotations

import time
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
