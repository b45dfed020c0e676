"""A compatibility fix for kombu's Redis transport, applied by workers.

When the broker connection drops (a Redis restart or failover), Celery's consumer closes
the connection and reconnects. kombu (5.x, up to at least 5.7.0) detaches the closed
connection's transport (``transport.client = None``) while its channel still has work:
restoring unacknowledged messages on close, acknowledging a task that finished during
the outage. Each rebuilds the channel's connection pool from ``transport.client`` and
raises ``AttributeError``, which Celery takes for an unrecoverable error: the worker
exits instead of reconnecting.

:func:`patch_kombu` makes building a pool for such a detached channel raise the Redis
``ConnectionError`` that kombu and Celery already handle there (the close goes on, the ack
is logged as failed). The message stays in kombu's ``unacked`` hash and is restored by the
visibility timeout, as after any crash; for actions it is stale by then and dropped.
"""

from __future__ import annotations

from typing import Any

import redis
from kombu.transport.redis import Channel

_PATCHED = "_celery_actions_patched"


def patch_kombu() -> None:
    """Make a detached Redis channel fail with ``ConnectionError`` (once per process)."""
    if getattr(Channel._get_pool, _PATCHED, False):
        return
    original: Any = Channel._get_pool

    def _get_pool(self: Any, asynchronous: bool = False) -> Any:
        if self.connection is None or self.connection.client is None:
            raise redis.ConnectionError("the broker connection of this channel was closed")
        return original(self, asynchronous=asynchronous)

    setattr(_get_pool, _PATCHED, True)
    Channel._get_pool = _get_pool  # type: ignore[method-assign]
