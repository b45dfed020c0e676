"""An action's status as the browser API shows it, and its changes pushed: each state
change of a browser-enqueued action is published on ``P ev:<id>`` by the Lua scripts
themselves; a long-poll or an event stream subscribes to it (no polling of the record)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio as aioredis
from asgiref.sync import sync_to_async

from ..client.info import ActionInfo
from ..core.protocol import ActionStatus

if TYPE_CHECKING:
    from ..client.facade import Actions

ASGI_LIFETIME_S = 600.0
WSGI_LIFETIME_S = 25.0
FINAL = {s.value for s in ActionStatus if s.finished}


def _ms(moment: Any) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def public_status(actions: Actions, action_id: str) -> dict[str, Any]:
    """What the browser may see of an action's record (no params, no worker)."""
    record = actions.runtime.store.record(action_id)
    if record is None:
        return {"id": action_id, "status": "unknown", "finished": False}
    info = ActionInfo.from_record(record)
    return {
        "id": info.id,
        "action": info.action,
        "status": info.status.value,
        "finished": info.status.finished,
        "reason": info.reason,
        "attempts": info.attempts,
        "createdAt": _ms(info.created_at),
        "startedAt": _ms(info.started_at),
        "finishedAt": _ms(info.finished_at),
        "nextAttemptAt": _ms(info.next_attempt_at),
    }


def public_outcome(actions: Actions, action_id: str) -> dict[str, Any]:
    """The status, and once finished the result or the error (type and message only: no
    traceback reaches a browser)."""
    found = public_status(actions, action_id)
    if not found["finished"]:
        return found
    if found["status"] == ActionStatus.COMPLETE:
        meta = actions.app.backend.get_task_meta(action_id)
        found["result"] = meta.get("result")
    elif found["status"] == ActionStatus.FAILED:
        record = actions.runtime.store.record(action_id) or {}
        text = record.get("error", "")
        found["error"] = {
            "type": (record.get("error_type") or "Error").rpartition(".")[2],
            "message": text.partition(": ")[2] or text,
        }
    return found


def sse(event: str, data: dict[str, Any]) -> bytes:
    """One server-sent event with a JSON payload."""
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


class ActionEvents:
    """Waits for an action's changes on its events channel."""

    def __init__(self, actions: Actions, action_id: str) -> None:
        self.actions = actions
        self.action_id = action_id
        store = actions.runtime.store
        self.channel = store.keys.events(action_id)
        self.url = store.settings.redis_url

    async def outcome(self, wait_s: float, since: str = "") -> dict[str, Any]:
        """The outcome, or the status after ``wait_s`` seconds without one; given
        ``since`` (a status), as soon as the status is another."""
        now = await sync_to_async(public_outcome)(self.actions, self.action_id)
        if now["finished"] or wait_s <= 0 or (since and now["status"] != since):
            return now
        async for _ in self._changes(wait_s):
            now = await sync_to_async(public_status)(self.actions, self.action_id)
            if now["finished"] or (since and now["status"] != since):
                break
        return await sync_to_async(public_outcome)(self.actions, self.action_id)

    async def _changes(self, lifetime: float) -> AsyncIterator[str]:
        """Each status published, for ``lifetime`` seconds; the first right away (so that
        a change between a read and the subscription is not missed)."""
        client = aioredis.Redis.from_url(self.url, decode_responses=True)
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(self.channel)
                yield "subscribed"
                end = time.monotonic() + lifetime
                while (left := end - time.monotonic()) > 0:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=min(left, 5.0)
                    )
                    if message is not None:
                        yield str(message["data"])
        finally:
            await client.aclose()

    async def astream(self, lifetime: float = ASGI_LIFETIME_S) -> AsyncIterator[bytes]:
        """Server-sent events under ASGI: the status now, each change, the outcome."""
        yield b"retry: 1000\n\n"
        last = None
        async for _ in self._changes(lifetime):
            now = await sync_to_async(public_outcome)(self.actions, self.action_id)
            if now["status"] != last:
                last = now["status"]
                yield sse("status", now)
            if now["finished"]:
                yield sse("result", now)
                return

    def stream(self, lifetime: float = WSGI_LIFETIME_S) -> Iterator[bytes]:
        """Server-sent events under WSGI: the same, for ``lifetime`` seconds at most (the
        browser reconnects: a long-poll)."""
        yield b"retry: 500\n\n"
        client = redis.Redis.from_url(self.url, decode_responses=True)
        pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        try:
            pubsub.subscribe(self.channel)
            last = None
            end = time.monotonic() + lifetime
            while True:
                now = public_outcome(self.actions, self.action_id)
                if now["status"] != last:
                    last = now["status"]
                    yield sse("status", now)
                if now["finished"]:
                    yield sse("result", now)
                    return
                left = end - time.monotonic()
                if left <= 0:
                    return
                pubsub.get_message(timeout=min(left, 5.0))
        finally:
            pubsub.close()
            client.close()
