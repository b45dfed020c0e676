"""Celery messages written straight into a Redis broker's lists by the enqueue script.

When the broker is the same Redis (host, port, db) as celery-actions, ``enqueue.lua``
writes each job's record and LPUSHes its Celery message in one atomic call: no kombu
producer per message, no outbox round trip, and a record never exists without its message.
The envelope is exactly what kombu's Redis transport writes for ``apply_async`` (protocol
2, JSON, base64 body, same headers and properties, same priority list), which a contract
test checks against a stock worker. Anything unusual (another broker or serializer,
compression, a non-direct exchange, a global key prefix) falls back to the normal
publisher.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from celery import Celery
from celery.utils.nodenames import anon_nodename

from .celery_config import broker_transport
from .dispatch import TOKEN_HEADER
from .options import Priority

_EMBED = ',{"callbacks":null,"errbacks":null,"chain":null,"chord":null}]'
_HOLES = ("\x00id\x00", "\x00kwargsrepr\x00", "\x00tag\x00", "\x00body\x00")


def _location(url: str) -> tuple[str, int, int]:
    parsed = urlparse(url)
    db = (parsed.path or "/0").strip("/") or "0"
    return (parsed.hostname or "localhost", parsed.port or 6379, int(db))


@dataclass(frozen=True, slots=True)
class Route:
    """Where one action's messages go, and a template of its envelope."""

    list_keys: dict[Priority, str]
    pieces: dict[Priority, tuple[str | int, ...]]


class Envelopes:
    """Builds Redis-transport Celery envelopes for actions, when it is safe to."""

    def __init__(self, app: Celery, priorities: dict[Priority, int]) -> None:
        self.app = app
        self.priorities = priorities
        self._routes: dict[tuple[str, str], Route | None] = {}
        self._channel: Any = None

    @classmethod
    def for_app(
        cls, app: Celery, redis_url: str, priorities: dict[Priority, int]
    ) -> Envelopes | None:
        """An envelope builder, or None when the broker is not this Redis or is unusual."""
        conf = app.conf
        broker = str(conf.broker_url or "")
        options = conf.broker_transport_options or {}
        if (
            broker_transport(app) != "redis"
            or _location(broker) != _location(redis_url)
            or conf.task_protocol != 2
            or conf.task_serializer != "json"
            or conf.task_compression
            or options.get("global_keyprefix")
            or conf.task_always_eager
        ):
            return None
        return cls(app, priorities)

    def route(self, action: str, celery_queue: str) -> Route | None:
        """The route of an action's messages, or None to use the normal publisher."""
        key = (action, celery_queue)
        if key not in self._routes:
            self._routes[key] = self._build_route(action, celery_queue)
        return self._routes[key]

    def _build_route(self, action: str, celery_queue: str) -> Route | None:
        app = self.app
        task = app.tasks.get(action)
        if task is None:
            return None
        exec_options = {k: v for k, v in task._get_exec_options().items() if v is not None}
        if exec_options.get("expires") or exec_options.get("exchange"):
            return None
        if exec_options.get("routing_key"):
            return None
        options: dict[str, Any] = {}
        if celery_queue:
            options["queue"] = celery_queue
        elif exec_options.get("queue"):
            options["queue"] = exec_options["queue"]
        routed = app.amqp.router.route(options, action, (), {}, task)
        queue = routed.get("queue")
        if queue is None or routed.get("exchange") or routed.get("routing_key"):
            return None
        if queue.exchange is None or queue.exchange.type != "direct":
            return None
        if queue.expires or (queue.queue_arguments or {}).get("x-expires"):
            return None
        channel = self._kombu_channel()
        list_keys: dict[Priority, str] = {}
        pieces: dict[Priority, tuple[str | int, ...]] = {}
        for priority, value in self.priorities.items():
            list_keys[priority] = channel._q_for_pri(queue.name, value)
            pieces[priority] = self._template(task, queue.name, value)
        return Route(list_keys, pieces)

    def _kombu_channel(self) -> Any:
        if self._channel is None:
            connection = self.app.connection_for_write()
            self._channel = connection.default_channel
        return self._channel

    def _template(self, task: Any, queue_name: str, priority: int) -> tuple[str | int, ...]:
        """The envelope as literal pieces and hole numbers (0 id, 1 kwargsrepr, 2 tag, 3 body)."""
        app = self.app
        message = {
            "body": _HOLES[3],
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {
                "lang": "py",
                "task": task.name,
                "id": _HOLES[0],
                "shadow": None,
                "eta": None,
                "expires": None,
                "group": None,
                "group_index": None,
                "retries": 0,
                "timelimit": [task.time_limit, task.soft_time_limit],
                "root_id": _HOLES[0],
                "parent_id": None,
                "argsrepr": "()",
                "kwargsrepr": _HOLES[1],
                "origin": anon_nodename(),
                "ignore_result": True,  # ActionTask stores outcomes itself
                "replaced_task_nesting": 0,
                "stamped_headers": None,
                "stamps": {},
                TOKEN_HEADER: "1",
            },
            "properties": {
                "correlation_id": _HOLES[0],
                "reply_to": app.thread_oid,
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": queue_name},
                "priority": priority,
                "body_encoding": "base64",
                "delivery_tag": _HOLES[2],
            },
        }
        parts: list[str | int] = [json.dumps(message)]
        for number, hole in enumerate(_HOLES):
            marker = json.dumps(hole)
            split: list[str | int] = []
            for part in parts:
                if isinstance(part, int):
                    split.append(part)
                    continue
                for i, chunk in enumerate(part.split(marker)):
                    if i:
                        split.append(number)
                    if chunk:
                        split.append(chunk)
            parts = split
        return tuple(parts)

    @staticmethod
    def build(pieces: tuple[str | int, ...], job_id: str, params_json: str) -> str:
        """The envelope of one job's first dispatch (token 1)."""
        body = base64.b64encode(("[[]," + params_json + _EMBED).encode()).decode()
        values = (
            json.dumps(job_id),
            json.dumps(params_json),
            '"' + str(uuid.uuid4()) + '"',
            '"' + body + '"',
        )
        return "".join(values[p] if isinstance(p, int) else p for p in pieces)
