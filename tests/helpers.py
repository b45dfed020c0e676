"""What the tests read from Celery's Redis broker, in kombu's layout, in one place."""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Any

import redis
from kombu.transport.redis import PRIORITY_STEPS, Channel

from celery_actions.redis.keys import Keys


def group_keys_pattern(keys: Keys, group: str) -> str:
    """A SCAN pattern for every key of a concurrency group (its slots, its waiting line and
    anything else under the group's name); ``group`` may itself be a glob."""
    slots = keys.group_slots(group)
    assert slots.endswith(":slots"), slots
    return slots.removesuffix("slots") + "*"


class Broker:
    """The messages Celery's Redis transport holds.

    A Celery queue is one Redis list per priority step (``<queue>``, ``<queue>\\x06\\x163``,
    ...; LPUSH, so newest first). A delivered message waits in the ``unacked`` hash until
    the worker acknowledges it (and is restored to its list after the visibility timeout).
    """

    def __init__(self, r: redis.Redis) -> None:
        self.r = r

    @staticmethod
    def lists_of(queue: str) -> list[str]:
        """The names of a queue's lists, highest priority first."""
        return [queue] + [f"{queue}{Channel.sep}{step}" for step in PRIORITY_STEPS[1:]]

    def lengths(self, queue: str = "celery") -> dict[str, int]:
        """The length of each of a queue's lists."""
        return {name: self.r.llen(name) for name in self.lists_of(queue)}

    def every_length(self) -> dict[str, int]:
        """The length of every list in the broker's Redis db (every queue's lists)."""
        return {name: self.r.llen(name) for name in self.r.scan_iter(_type="list")}

    def queued(self, queue: str = "celery") -> int:
        """How many messages wait in a queue, across its lists."""
        return sum(self.lengths(queue).values())

    def messages(self, queue: str = "celery") -> dict[str, list[dict[str, Any]]]:
        """Every message waiting in a queue, decoded, by list; empty lists left out."""
        got = {name: self.r.lrange(name, 0, -1) for name in self.lists_of(queue)}
        return {name: [json.loads(m) for m in raw] for name, raw in got.items() if raw}

    def take(self, task_id: str, queue: str = "celery") -> bool:
        """Remove a task's message from its queue, as a consumer killed between kombu's pop
        and its ``unacked`` write loses it; True if there was one."""
        for name in self.lists_of(queue):
            for raw in self.r.lrange(name, 0, -1):
                if json.loads(raw)["headers"]["id"] == task_id:
                    return self.r.lrem(name, 1, raw) == 1
        return False

    def strand(self, task_id: str, delivered_s_ago: float, queue: str = "celery") -> bool:
        """Move a task's message into ``unacked`` as delivered ``delivered_s_ago`` seconds
        ago, as a consumer SIGKILLed after kombu's ``unacked`` write leaves it (kombu
        restores it only after the visibility timeout)."""
        for name in self.lists_of(queue):
            for raw in self.r.lrange(name, 0, -1):
                if json.loads(raw)["headers"]["id"] == task_id:
                    tag = json.loads(raw)["properties"]["delivery_tag"]
                    pipe = self.r.pipeline(transaction=True)
                    pipe.lrem(name, 1, raw)
                    pipe.hset(Channel.unacked_key, tag, json.dumps([json.loads(raw), "", queue]))
                    pipe.zadd(Channel.unacked_index_key, {tag: time.time() - delivered_s_ago})
                    pipe.execute()
                    return True
        return False

    def clear(self, queue: str = "celery") -> None:
        """Drop every message waiting in a queue."""
        self.r.delete(*self.lists_of(queue))

    def holds(self, task_id: str, queue: str = "celery") -> bool:
        """True while a message of this task waits in the queue or is unacknowledged.

        Both are read in one snapshot (MULTI), the lists first. kombu pops a message from
        its list and then records it in ``unacked`` (two round trips), so only a snapshot
        taken in that instant misses a message still in flight.
        """
        pipe = self.r.pipeline(transaction=True)
        for name in self.lists_of(queue):
            pipe.lrange(name, 0, -1)
        pipe.hvals(Channel.unacked_key)
        *lists, unacked = pipe.execute()
        queued = {json.loads(m)["headers"]["id"] for raw in lists for m in raw}
        delivered = {json.loads(entry)[0]["headers"]["id"] for entry in unacked}
        return task_id in queued | delivered


AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
"""The RabbitMQ the AMQP tests use (the machine's service)."""


def rabbitmq_reachable() -> bool:
    """Whether a RabbitMQ listens on 127.0.0.1:5672 (else those tests skip, saying so)."""
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            return True
    except OSError:
        return False
