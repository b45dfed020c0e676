"""BackgroundActionHandle: follow one enqueued action by its id."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from celery import states
from celery.exceptions import TaskRevokedError
from celery.exceptions import TimeoutError as CeleryTimeoutError

from ..core.protocol import ActionStatus, Field
from ..errors import ActionCancelled, ActionNotFound, ActionTimeout
from .info import ActionInfo

if TYPE_CHECKING:
    from ..celery.runtime import Runtime


class BackgroundActionHandle:
    """A handle on one enqueued action: its status, its result, cancelling it."""

    __slots__ = ("_runtime", "action", "id")

    def __init__(self, runtime: Runtime, action: str, action_id: str) -> None:
        self._runtime = runtime
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
        record = self._runtime.store.record(self.id)
        if record is None or record.get(Field.ACTION) != self.action:
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
        return self._runtime.revocation.cancel(self.id) == "cancelled"

    def result(self, timeout: float | None = None, *, select: Sequence[str] | None = None) -> Any:
        """Wait for the final outcome: the return value, or the final attempt's error.

        Waits on the result backend (Redis pub/sub, no polling). Raises ActionCancelled
        for a cancelled action and ActionTimeout when ``timeout`` seconds pass first.
        ``select`` (model actions only, as Gadget's): once the action has completed, return
        those fields of its record as it is now instead of the return value, as a dict
        keyed by the names given (Django lookups: ``["id", "customer__email"]``).
        """
        value = self._result(timeout)
        return value if select is None else self._select(select)

    def _select(self, fields: Sequence[str]) -> dict[str, Any]:
        task = self._runtime.tasks.get(self.action)
        reader = None if task is None else task.select_record
        if reader is None:
            raise TypeError(f"result(select=...) is for model actions; {self.action} is not one")
        return reader(self.info().params, fields)

    def _result(self, timeout: float | None) -> Any:
        if self.status() is ActionStatus.CANCELLED:
            raise ActionCancelled(f"action {self.id!r} was cancelled")
        result = self._runtime.app.AsyncResult(self.id)
        try:
            return result.get(timeout=timeout, propagate=True)
        except TaskRevokedError:
            raise ActionCancelled(f"action {self.id!r} was cancelled") from None
        except CeleryTimeoutError:
            raise ActionTimeout(
                f"action {self.id!r} did not finish within {timeout}s "
                f"(status {self.status().value})"
            ) from None

    async def result_async(
        self, timeout: float | None = None, *, select: Sequence[str] | None = None
    ) -> Any:
        """``result()`` for asyncio code: awaits the result backend's pub/sub channel."""
        value = await self._result_async(timeout)
        return value if select is None else await asyncio.to_thread(self._select, select)

    async def _result_async(self, timeout: float | None) -> Any:
        if await asyncio.to_thread(self.status) is ActionStatus.CANCELLED:
            raise ActionCancelled(f"action {self.id!r} was cancelled")
        backend = self._runtime.app.backend
        url = self._runtime.app.conf.result_backend
        if not (isinstance(url, str) and url.startswith(("redis://", "rediss://"))):
            return await asyncio.to_thread(self._result, timeout)
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
