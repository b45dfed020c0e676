"""ActionInfo: a snapshot of one action's record, for people and dashboards."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..core.protocol import ActionStatus, Field


def _dt(value: str | None) -> datetime | None:
    return None if not value else datetime.fromtimestamp(int(value) / 1000, UTC)


@dataclass(frozen=True, slots=True)
class ActionInfo:
    """A snapshot of one action's record."""

    id: str
    action: str
    status: ActionStatus
    reason: str
    params: dict[str, Any]
    priority: str
    queue: str | None
    max_concurrency: int | None
    attempts: int
    failures: int
    created_at: datetime | None
    start_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    next_attempt_at: datetime | None
    error: str | None
    error_type: str | None
    worker: str | None

    @classmethod
    def from_record(cls, record: dict[str, str]) -> ActionInfo:
        """Build from a raw job hash."""
        get = record.get
        queue = get(Field.QUEUE) or None
        return cls(
            id=record["id"],
            action=record[Field.ACTION],
            status=ActionStatus(record[Field.STATUS]),
            reason=get(Field.REASON, ""),
            params=json.loads(get(Field.PARAMS) or "{}"),
            priority=get(Field.PRIORITY, "default"),
            queue=queue,
            max_concurrency=int(get(Field.LIMIT) or 0) or None if queue else None,
            attempts=int(get(Field.ATTEMPTS, 0)),
            failures=int(get(Field.FAILURES, 0)),
            created_at=_dt(get(Field.CREATED_AT)),
            start_at=_dt(get(Field.START_AT)),
            started_at=_dt(get(Field.STARTED_AT)),
            finished_at=_dt(get(Field.FINISHED_AT)),
            next_attempt_at=_dt(get(Field.NEXT_ATTEMPT_AT)),
            error=get(Field.ERROR) or None,
            error_type=get(Field.ERROR_TYPE) or None,
            worker=get(Field.WORKER) or None,
        )
