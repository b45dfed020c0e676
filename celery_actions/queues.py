"""Read-only views of the queue gate: each active queue, its limit, holders and waiters."""

from __future__ import annotations

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
    running: int
    waiting: int
    holders: list[SlotHolder]


def active_queues(store: Store, limit: int = 1000) -> list[QueueInfo]:
    """Queues that have slot holders or waiting actions, most recently active first."""
    keys = store.keys
    client = store.client
    names: list[str] = client.zrevrange(keys.queues, 0, limit - 1)  # type: ignore[assignment]
    result: list[QueueInfo] = []
    for name in names:
        pipe = client.pipeline(transaction=False)
        pipe.zrange(keys.queue_slots(name), 0, -1, withscores=True)
        pipe.zcard(keys.queue_waiting(name))
        pipe.zrange(keys.queue_waiting(name), 0, 0)
        slots, waiting, head = pipe.execute()
        pipe = client.pipeline(transaction=False)
        for job_id, _ in slots:
            pipe.hmget(keys.job(job_id), "action", "status", "worker", "limit")
        for job_id in head:
            pipe.hmget(keys.job(job_id), "action", "status", "worker", "limit")
        records = pipe.execute()
        holders = [
            SlotHolder(
                id=job_id,
                action=rec[0] or "?",
                status=rec[1] or "?",
                worker=rec[2] or None,
                lease_expires_at=datetime.fromtimestamp(score / 1000, UTC),
            )
            for (job_id, score), rec in zip(slots, records, strict=False)
        ]
        limits = [int(rec[3]) for rec in records if rec and rec[3]]
        result.append(
            QueueInfo(
                name=name,
                limit=limits[-1] if limits else 1,
                running=len(slots),
                waiting=int(waiting),
                holders=holders,
            )
        )
    return result
