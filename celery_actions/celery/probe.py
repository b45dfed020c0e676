"""Is a dispatched job's message still in the broker?

A message can be lost in flight on a Redis broker: kombu pops it off the list, then writes
it to its ``unacked`` hash, and a consumer killed in between (or a ``celery purge``) loses
it. A consumer killed after that write leaves it in ``unacked`` until the visibility
timeout (an hour by default). The pump asks this probe about every dispatched job nobody
claimed within ``actions_dispatch_timeout``: a message still queued (in its priority
list), or delivered less than that timeout ago (in ``unacked``, by the time kombu keeps
in ``unacked_index``), is left alone; one found nowhere, or delivered long ago and still
unclaimed (its consumer died), is dispatched again under a new token, so should it turn
up after all it is stale and dropped.

A list longer than ``SCAN_LIMIT`` is not scanned (its messages are taken as queued); that
is the price of not blocking the broker on a huge backlog.

Other brokers (RabbitMQ) hold a message until it is acknowledged, but a ``celery purge``
(or ``queue.purge``) deletes messages, and nothing can be looked up in a queue without
consuming it. There the probe asks how many messages the suspect's Celery queue holds
ready (a passive declare): none means its message is gone, so it is dispatched again (a
copy that was in fact delivered somewhere is stale by then and dropped). While the queue
holds others, the suspect is left alone: after a purge it is dispatched again as soon as
its queue has drained, never ahead of the backlog.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from typing import Any

from celery import Celery

from ..core.priority import REDIS_TRANSPORTS, Priority
from ..redis.records import Suspect
from .config import broker_transport

logger = logging.getLogger("celery_actions")
SCAN_LIMIT = 100_000
CHUNK = 1000


class BrokerProbe:
    """Looks for dispatched jobs' messages in the broker."""

    def __init__(
        self, app: Celery, priorities: dict[Priority, int], dispatch_timeout_s: float
    ) -> None:
        self.app = app
        self.priorities = priorities
        self.dispatch_timeout_s = dispatch_timeout_s
        self.redis = broker_transport(app) in REDIS_TRANSPORTS

    def missing(self, suspects: Sequence[Suspect]) -> list[Suspect]:
        """The suspects whose message is neither queued nor delivered."""
        if not suspects:
            return []
        if not self.redis:
            return self._missing_from_empty_queues(suspects)
        with self.app.connection_for_write() as connection:
            channel: Any = connection.default_channel
            client = channel.client
            wanted = {s.id: s for s in suspects}
            by_list: dict[str, set[str]] = {}
            for suspect in suspects:
                by_list.setdefault(self._list_key(channel, suspect), set()).add(suspect.id)
            for list_key, ids in by_list.items():
                for found in self._in_list(client, list_key, ids):
                    wanted.pop(found, None)
            if wanted:
                for found in self._delivered_lately(client, channel, set(wanted)):
                    del wanted[found]
        return list(wanted.values())

    def _delivered_lately(self, client: Any, channel: Any, ids: set[str]) -> set[str]:
        """Which of ``ids`` a consumer took less than the dispatch timeout ago."""
        tags: dict[str, Any] = {}
        for tag, payload in client.hgetall(channel.unacked_key).items():
            for job_id in _ids_in(payload) & ids:
                tags[job_id] = tag
        if not tags:
            return set()
        pipe = client.pipeline(transaction=False)
        for tag in tags.values():
            pipe.zscore(channel.unacked_index_key, tag)
        since = time.time() - self.dispatch_timeout_s
        return {
            job_id
            for job_id, delivered_at in zip(tags, pipe.execute(), strict=True)
            if delivered_at is not None and float(delivered_at) > since
        }

    def _missing_from_empty_queues(self, suspects: Sequence[Suspect]) -> list[Suspect]:
        """Another broker: the suspects whose Celery queue holds no ready message."""
        by_queue: dict[str, list[Suspect]] = {}
        for suspect in suspects:
            by_queue.setdefault(self._queue(suspect).name, []).append(suspect)
        gone: list[Suspect] = []
        with self.app.connection_for_write() as connection:
            for name, waiting in by_queue.items():
                try:
                    channel = connection.channel()
                    try:
                        ready = channel.queue_declare(queue=name, passive=True).message_count
                    finally:
                        channel.close()
                except Exception as exc:  # an unknown queue closes the channel: ask later
                    logger.info("celery-actions: cannot count queue %s: %r", name, exc)
                    continue
                if not ready:
                    gone.extend(waiting)
        return gone

    def _queue(self, suspect: Suspect) -> Any:
        """The kombu Queue a suspect's message was routed to."""
        task = self.app.tasks.get(suspect.action)
        options: dict[str, Any] = {}
        if task is not None:
            options.update((k, v) for k, v in task._get_exec_options().items() if v is not None)
        if suspect.celery_queue:
            options["queue"] = suspect.celery_queue
        return self.app.amqp.router.route(options, suspect.action, (), {}, task)["queue"]

    def _list_key(self, channel: Any, suspect: Suspect) -> str:
        queue = self._queue(suspect).name
        priority = self.priorities.get(Priority(suspect.priority), 0)
        return str(channel._q_for_pri(queue, priority))

    def _in_list(self, client: Any, list_key: str, ids: set[str]) -> set[str]:
        """Which of ``ids`` have a message in the list (oldest messages read first)."""
        length = int(client.llen(list_key))
        if length > SCAN_LIMIT:
            logger.info(
                "celery-actions: %s holds %d messages; not scanned for lost ones", list_key, length
            )
            return set(ids)
        found: set[str] = set()
        for end in range(-1, -length - 1, -CHUNK):
            for message in client.lrange(list_key, end - CHUNK + 1, end):
                found |= _ids_in(message) & ids
            if len(found) == len(ids):
                break
        return found


_ID = re.compile(rb'"id": "([^"]+)"')
"""How a task message names its id (kombu's JSON: ``"id": "<id>"`` in the headers; the
body is base64, so nothing in it matches)."""


def _ids_in(message: Any) -> set[str]:
    """The ids a raw message names: one regex pass, whatever the number of suspects."""
    raw = message if isinstance(message, bytes) else str(message).encode()
    return {match.decode() for match in _ID.findall(raw)}
