"""Celery messages written straight into a Redis broker's lists, beside the job records.

When the broker is the same Redis (host, port, db) as celery-actions, ``enqueue`` records
the job, LPUSHes its Celery message and PUBLISHes its ``task-sent`` event in one atomic
script call, and ``enqueue_many`` writes each chunk's records, messages and events in one
MULTI transaction (``EnqueueWriter.send``): no kombu producer per message and no outbox
round trip. The envelopes are exactly what kombu's Redis transport writes
for ``apply_async`` and for Celery's event dispatcher (protocol 2, JSON, base64 bodies,
same headers and properties, same priority lists and event channel); a contract test
checks them against kombu's and a stock worker. Anything unusual (another broker or
serializer, compression, a non-direct exchange, a global key prefix, expiring queues)
falls back to the normal publisher.
"""

from __future__ import annotations

import itertools
import json
import os
import time
import uuid
from binascii import b2a_base64
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from celery import Celery
from celery.utils.nodenames import anon_nodename

from ..core.priority import Priority
from ..core.settings import redis_location
from .config import broker_transport
from .message_templates import event_envelope, sent_event_body, task_message
from .template import Template, json_str

KWARGSREPR_MAX = 1024
"""Celery's ``kwargsrepr_maxsize``: how much of the params a message header repeats."""


def kwargsrepr(params_json: str) -> str:
    """The params as Flower shows them: their JSON, cut as Celery cuts ``kwargsrepr``."""
    if len(params_json) > KWARGSREPR_MAX:
        return params_json[: KWARGSREPR_MAX - 3] + "..."
    return params_json


_EMBED = ',{"callbacks":null,"errbacks":null,"chain":null,"chord":null}]'


@dataclass(frozen=True, slots=True)
class Lineage:
    """root_id and parent_id of actions enqueued from inside a task (else the action's own)."""

    root_id: str | None = None
    parent_id: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """Where one action's messages go, and templates of its envelope and sent event."""

    action: str
    queue: str
    list_keys: dict[Priority, str]
    messages: dict[Priority, Template]
    event_body: Template


class Envelopes:
    """Builds Redis-transport Celery envelopes (and sent events) for actions."""

    def __init__(self, app: Celery, priorities: dict[Priority, int]) -> None:
        self.app = app
        self.priorities = priorities
        self._routes: dict[tuple[str, str], Route | None] = {}
        self._job_envelopes: dict[tuple[Any, ...], JobEnvelopes] = {}
        self._channel: Any = None
        self._hostname = anon_nodename()
        self._tag_pid = 0
        self._tag_prefix = ""
        self._tags = itertools.count()
        self._fresh_tags()

    @classmethod
    def for_app(
        cls, app: Celery, redis_url: str, priorities: dict[Priority, int]
    ) -> Envelopes | None:
        """An envelope builder, or None when the broker is not this Redis or is unusual."""
        conf = app.conf
        options = conf.broker_transport_options or {}
        if (
            broker_transport(app) != "redis"
            or redis_location(str(conf.broker_url)) != redis_location(redis_url)
            or conf.task_protocol != 2
            or conf.task_serializer != "json"
            or conf.task_compression
            or options.get("global_keyprefix")
        ):
            return None
        return cls(app, priorities)

    def lineage(self) -> Lineage:
        """The root and parent ids for actions enqueued now (inside a task, its ids)."""
        parent = self.app.current_worker_task
        if parent is None:
            return Lineage()
        return Lineage(parent.request.root_id or parent.request.id, parent.request.id)

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
        if any(exec_options.get(k) for k in ("expires", "exchange", "routing_key")):
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
        messages: dict[Priority, Template] = {}
        for priority, value in self.priorities.items():
            list_keys[priority] = channel._q_for_pri(queue.name, value)
            messages[priority] = task_message(self.app, task, self._hostname, queue.name, value)
        return Route(
            action,
            queue.name,
            list_keys,
            messages,
            sent_event_body(self._hostname, action, queue.name),
        )

    def _kombu_channel(self) -> Any:
        if self._channel is None:
            self._channel = self.app.connection_for_write().default_channel
        return self._channel

    @cached_property
    def _sent_events(self) -> tuple[str, Template, str, Template] | None:
        """Channels and envelope templates for one ``task-sent`` event and for a list of
        them (``task.multi``, as Celery's buffered dispatcher sends; receivers such as
        Flower's accept both); None when the app does not send sent events."""
        if not self.app.conf.task_send_sent_event:
            return None
        channel, exchange = self._kombu_channel(), self.app.conf.event_exchange
        one, many = "task.sent", "task.multi"
        return (
            channel._get_publish_topic(exchange, one),
            event_envelope(self.app, self._hostname, one),
            channel._get_publish_topic(exchange, many),
            event_envelope(self.app, self._hostname, many),
        )

    def for_jobs(
        self, route: Route, priority: Priority, lineage: Lineage, eta: str | None = None
    ) -> JobEnvelopes:
        """Builds the envelopes (and sent events) of jobs sharing a route and options."""
        self._fresh_tags()
        key = (route.action, route.queue, priority, lineage, eta)
        built = self._job_envelopes.get(key)
        if built is None:
            if len(self._job_envelopes) >= 256:  # etas and parent tasks vary: stay bounded
                self._job_envelopes.clear()
            built = self._job_envelopes[key] = JobEnvelopes(self, route, priority, lineage, eta)
        return built

    def _fresh_tags(self) -> None:
        if self._tag_pid != os.getpid():  # a forked worker child gets its own prefix
            self._tag_pid = os.getpid()
            self._tag_prefix = f"{uuid.uuid4()}-{self._tag_pid}-"

    def tag(self) -> str:
        """A unique delivery tag (kombu only needs uniqueness; uuid4 per message is slow).
        Unique per process: :meth:`for_jobs` renews the prefix after a fork."""
        return f'"{self._tag_prefix}{next(self._tags)}"'

    @property
    def sends_sent_events(self) -> bool:
        """Whether the app sends ``task-sent`` events."""
        return self._sent_events is not None

    def sent_events(self, events: Sequence[str]) -> tuple[str, str]:
        """The channel and the envelope publishing these event bodies: one ``task-sent``
        message, or one ``task.multi`` message carrying the list."""
        if self._sent_events is None or not events:
            return "", ""
        one_channel, one, many_channel, many = self._sent_events
        if len(events) == 1:
            channel, template, body = one_channel, one, events[0]
        else:
            channel, template, body = many_channel, many, "[" + ",".join(events) + "]"
        encoded = b2a_base64(body.encode(), newline=False).decode()
        return channel, template.fill((self.tag(), '"' + encoded + '"'))


class JobEnvelopes:
    """The Celery envelope and ``task-sent`` event body of each job of one route, priority,
    lineage and eta: templates with everything but the job's own values filled in.

    Immutable, so shared: :meth:`Envelopes.for_jobs` keeps the recent ones.
    """

    __slots__ = ("_envelopes", "_event", "_message")

    def __init__(
        self,
        envelopes: Envelopes,
        route: Route,
        priority: Priority,
        lineage: Lineage,
        eta: str | None,
    ) -> None:
        self._envelopes = envelopes
        lineage_values = {5: "null" if lineage.parent_id is None else json_str(lineage.parent_id)}
        same = {4: 0} if lineage.root_id is None else None
        if lineage.root_id is not None:
            lineage_values[4] = json_str(lineage.root_id)
        self._message = route.messages[priority].bind(lineage_values, same)
        # message holes left: 0 id, 1 kwargsrepr, 2 delivery tag, 3 body, 6 token;
        # event holes left: 0 uuid, 1 kwargs, 2 clock, 3 timestamp
        self._event: Template | None = None
        if envelopes.sends_sent_events:
            eta_json = "null" if eta is None else json.dumps(eta)
            self._event = route.event_body.bind({**lineage_values, 6: eta_json}, same)

    def stamped(self) -> Template | None:
        """The sent-event template with the time and a Lamport clock tick filled in, for a
        batch built now (holes left: 0 uuid, 1 kwargs); None when no events are sent."""
        if self._event is None:
            return None
        clock = str(self._envelopes.app.clock.forward())
        return self._event.bind({2: clock, 3: repr(time.time())})

    def build(
        self, job_id: str, params_json: str, token: str, stamped: Template | None = None
    ) -> tuple[str, str]:
        """The Celery envelope of a job's first dispatch under ``token``, and its sent
        event body ('' when the app sends none), from the batch's ``stamped`` template if
        given. The params travel once: kwargsrepr and the event's kwargs are cut to
        ``KWARGSREPR_MAX`` characters, as Celery cuts them."""
        id_json = json_str(job_id)
        kwargs_json = json.dumps(kwargsrepr(params_json))
        body = b2a_base64(("[[]," + params_json + _EMBED).encode(), newline=False).decode()
        message = self._message.fill(
            (id_json, kwargs_json, self._envelopes.tag(), f'"{body}"', f'"{token}"')
        )
        if stamped is not None:
            return message, stamped.fill((id_json, kwargs_json))
        if self._event is None:
            return message, ""
        clock = str(self._envelopes.app.clock.forward())
        return message, self._event.fill((id_json, kwargs_json, clock, repr(time.time())))
