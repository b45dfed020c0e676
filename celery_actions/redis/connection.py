"""Connections: a client per process, and commands sent now whose replies are read later.

:class:`Sent` writes packed commands on a pooled connection and reads their replies when
asked, so a producer can build the next batch while Redis runs this one (bulk enqueue).
"""

from __future__ import annotations

import os
from typing import Any

import hiredis
import redis


class ProcessClient:
    """A Redis client for the current process: a forked worker child gets its own."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._client: redis.Redis | None = None
        self._pid = 0

    def get(self) -> redis.Redis:
        """The client of this process."""
        if self._client is None or self._pid != os.getpid():
            self._client = redis.Redis.from_url(
                self.url, decode_responses=True, health_check_interval=30
            )
            self._pid = os.getpid()
        return self._client

    def close(self) -> None:
        """Close this process's connections (a later ``get`` connects again)."""
        if self._client is not None and self._pid == os.getpid():
            self._client.close()
        self._client = None


class Lease:
    """A pooled connection, given back once (dropped if replies may be left unread)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.connection: Any = pool.get_connection()  # untyped in redis-py
        self._back = False

    def release(self, drop: bool = False) -> None:
        """Give the connection back to the pool; closed first when ``drop``."""
        if self._back:
            return
        self._back = True
        if drop:
            self.connection.disconnect()
        self.pool.release(self.connection)


class Sent:
    """Commands sent on a pooled connection now, their replies read later (in order).

    An error reply is returned in place, as an exception, like a pipeline's. Any failure
    drops the connection.
    """

    def __init__(self, pool: Any, commands: list[tuple[Any, ...]], lease: Lease | None = None):
        self._lease = lease or Lease(pool)
        self._count = len(commands)
        try:
            # hiredis directly: redis-py's packer inspects every argument in Python first.
            packed = [hiredis.pack_command(c) for c in commands]
            self._lease.connection.send_packed_command(packed)
        except BaseException:
            self.drop()
            raise

    def replies(self, keep: bool = False) -> list[Any]:
        """Read every reply; give the connection back unless ``keep`` (to send more)."""
        replies: list[Any] = []
        try:
            for _ in range(self._count):
                try:
                    replies.append(self._lease.connection.read_response())
                except redis.ResponseError as exc:
                    replies.append(exc)
        except BaseException:
            self.drop()
            raise
        if not keep:
            self._lease.release()
        return replies

    def more(self, commands: list[tuple[Any, ...]]) -> Sent:
        """Send more commands on this connection (after ``replies(keep=True)``)."""
        return Sent(self._lease.pool, commands, self._lease)

    def drop(self) -> None:
        """Close the connection and give it back (once)."""
        self._lease.release(drop=True)
