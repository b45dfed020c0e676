"""BackgroundActionHandle: follow one enqueued action by its id."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from celery import states
from celery.exceptions import TaskRevokedError
from celery.exceptions import TimeoutError as CeleryTimeoutError

from .errors import ActionCancelled, ActionNotFound, ActionTimeout

if TYPE_CHECKING:
    from .actions import Actions


class ActionStatus(StrEnum):
    """Where an action is in its life."""

    SCHEDULED = "scheduled"
    """Waiting for its ``startAt``."""
    WAITING = "waiting"
    """Ready: in the broker, or waiting for a slot of its queue (see ``reason``)."""
    RUNNING = "running"
    """A worker is running it."""
    RETRYING = "retrying"
    """An attempt failed and retries are left; waiting for the retry delay."""
    FAILED = "failed"
    """Every attempt failed (or the retry window closed)."""
    COMPLETE = "complete"
    """An attempt succeeded."""
    CANCELLED = "cancelled"
    """Cancelled before it could complete."""

    @property
    def finished(self) -> bool:
        """True for failed, complete and cancelled."""
        return self in (ActionStatus.FAILED, ActionStatus.COMPLETE, ActionStatus.CANCELLED)


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
        queue = record.get("queue") or None
        return cls(
            id=record["id"],
            action=record["action"],
            status=ActionStatus(record["status"]),
            reason=record.get("reason", ""),
            params=json.loads(record.get("params") or "{}"),
            priority=record.get("priority", "default"),
            queue=queue,
            max_concurrency=int(record["limit"]) if queue else None,
            attempts=int(record.get("attempts", 0)),
            failures=int(record.get("failures", 0)),
            created_at=_dt(record.get("created_at")),
            start_at=_dt(record.get("start_at")),
            started_at=_dt(record.get("started_at")),
            finished_at=_dt(record.get("finished_at")),
            next_attempt_at=_dt(record.get("next_attempt_at")),
            error=record.get("error") or None,
            error_type=record.get("error_type") or None,
            worker=record.get("worker") or None,
        )


class BackgroundActionHandle:
    """A handle on one enqueued action: its status, its result, cancelling it."""

    __slots__ = ("_actions", "action", "id")

    def __init__(self, actions: Actions, action: str, action_id: str) -> None:
        self._actions = actions
        self.action = action
        self.id = action_id

    def __repr__(self) -> str:
        return f"<BackgroundActionHandle {self.action} id={self.id!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BackgroundActionHandle) and (other.action, other.id) == (
            self.action,
            self.id,
        )

    def __hash__(self) -> int:
        return hash((self.action, self.id))

    def info(self) -> ActionInfo:
        """The action's record. Raises ActionNotFound for an unknown id."""
        record = self._actions.store.record(self.id)
        if record is None or record.get("action") != self.action:
            raise ActionNotFound(f"no action {self.action} with id {self.id!r}")
        return ActionInfo.from_record(record)

    def status(self) -> ActionStatus:
        """The current status. Raises ActionNotFound for an unknown id."""
        return self.info().status

    def cancel(self) -> bool:
        """Cancel a scheduled, waiting or retrying action; True if it was cancelled.

        A running action is not interrupted: it is marked so that it is not retried, and
        ``cancel()`` returns False. A finished action returns False.
        """
        self.info()
        outcome, dispatch = self._actions.store.cancel(self.id)
        self._actions.publisher.publish(dispatch)
        if outcome == "cancelled":
            self._actions.app.backend.mark_as_revoked(self.id, "cancelled")
            return True
        return False

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the final outcome: the return value, or the final attempt's error.

        Waits on the result backend (Redis pub/sub, no polling). Raises ActionCancelled
        for a cancelled action and ActionTimeout when ``timeout`` seconds pass first.
        """
        if self.status() is ActionStatus.CANCELLED:
            raise ActionCancelled(f"action {self.id!r} was cancelled")
        result = self._actions.app.AsyncResult(self.id)
        try:
            return result.get(timeout=timeout, propagate=True)
        except TaskRevokedError:
            raise ActionCancelled(f"action {self.id!r} was cancelled") from None
        except CeleryTimeoutError:
            raise ActionTimeout(
                f"action {self.id!r} did not finish within {timeout}s "
                f"(status {self.status().value})"
            ) from None

    async def result_async(self, timeout: float | None = None) -> Any:
        """``result()`` for asyncio code: awaits the result backend's pub/sub channel."""
        if await asyncio.to_thread(self.status) is ActionStatus.CANCELLED:
            raise ActionCancelled(f"action {self.id!r} was cancelled")
        backend = self._actions.app.backend
        url = self._actions.app.conf.result_backend
        if not (isinstance(url, str) and url.startswith(("redis://", "rediss://"))):
            return await asyncio.to_thread(self.result, timeout)
        import redis.asyncio as aioredis

        key = backend.get_key_for_task(self.id)
        deadline = None if timeout is None else time.monotonic() + timeout
        client = aioredis.Redis.from_url(url)
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(key)
                raw = await client.get(key)
                meta = None if raw is None else backend.decode_result(raw)
                while meta is None or meta["status"] not in states.READY_STATES:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise ActionTimeout(f"action {self.id!r} did not finish within {timeout}s")
                    wait = 1.0 if remaining is None else min(remaining, 1.0)
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=wait)
                    if message is not None:
                        meta = backend.decode_result(message["data"])
        finally:
            await client.aclose()
        if meta["status"] == states.SUCCESS:
            return meta["result"]
        if meta["status"] == states.REVOKED:
            raise ActionCancelled(f"action {self.id!r} was cancelled")
        raise meta["result"]
