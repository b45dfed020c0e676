"""Publishing job messages to the broker, the way ``app.send_task`` does, minus its cost.

``send_task`` subscribes to the result channel on every call when the result backend is
Redis (10-15% of the enqueue cost, even when nobody waits). We build and send the same
message (routing, headers, events) and subscribe only in ``handle.result()``. Each message
carries the job's dispatch token in the ``actions_token`` header.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from celery import Celery

from ..core.priority import Priority
from ..core.protocol import TOKEN_HEADER
from ..redis.records import Dispatch, MessageRow, NewJob
from ..redis.store import Store

if TYPE_CHECKING:
    from kombu.messaging import Producer


class Publisher:
    """Sends the messages of a :class:`Dispatch`, then confirms it."""

    def __init__(self, app: Celery, store: Store, priorities: dict[Priority, int]) -> None:
        self.app = app
        self.store = store
        self.priorities = priorities

    def publish(self, dispatch: Dispatch, producer: Producer | None = None) -> None:
        """Send every message, then drop the outbox reservations."""
        if not dispatch.rows:
            return
        with self.app.producer_or_acquire(producer) as p:
            for row in dispatch.rows:
                self.send(p, row)
        self.store.confirm(dispatch)

    def send(self, producer: Producer, row: MessageRow) -> None:
        """Publish one job's message."""
        app = self.app
        amqp = app.amqp
        name = row.action
        kwargs = json.loads(row.params_json)
        task = app.tasks.get(name)
        options: dict[str, Any] = {}
        if task is not None:
            options.update((k, v) for k, v in task._get_exec_options().items() if v is not None)
        options["priority"] = self.priorities[Priority(row.priority)]
        if row.celery_queue:
            options["queue"] = row.celery_queue
        options = amqp.router.route(options, name, (), kwargs, task)
        root_id = parent_id = None
        parent = app.current_worker_task
        if parent is not None:
            root_id = parent.request.root_id or parent.request.id
            parent_id = parent.request.id
        message = amqp.create_task_message(
            row.id,
            name,
            (),
            kwargs,
            reply_to=app.thread_oid,
            time_limit=options.pop("time_limit", None),
            soft_time_limit=options.pop("soft_time_limit", None),
            create_sent_event=app.conf.task_send_sent_event,
            ignore_result=True,  # ActionTask stores outcomes itself
            root_id=root_id,
            parent_id=parent_id,
            **options,
        )
        with producer.connection._reraise_as_library_errors():
            amqp.send_task_message(
                producer, name, message, headers={TOKEN_HEADER: row.token}, **options
            )

    def announce_scheduled(self, jobs: Sequence[NewJob]) -> None:
        """Send ``task-sent`` events with the eta, so Flower lists scheduled actions."""
        if not jobs or not self.app.conf.task_send_sent_event:
            return
        with self.app.events.default_dispatcher() as dispatcher:
            for job in jobs:
                eta_ms = job.start_at_ms or 0
                dispatcher.send(
                    "task-sent",
                    uuid=job.id,
                    name=job.spec.action,
                    args="()",
                    kwargs=job.params_json,
                    retries=0,
                    eta=datetime.fromtimestamp(eta_ms / 1000, UTC).isoformat(),
                    expires=None,
                )
