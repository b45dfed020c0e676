"""The shapes of the messages kombu writes to a Redis broker, as templates with holes:
a task message as ``apply_async`` sends it, the envelope of Celery's event dispatcher, and
the ``task-sent`` event body. A contract test checks them against kombu's own."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.utils.time import utcoffset

from ..core.protocol import TOKEN_HEADER
from .template import HOLES, Template


def task_message(app: Celery, task: Any, hostname: str, queue_name: str, priority: int) -> Template:
    """The envelope ``apply_async`` would send, with holes for what varies."""
    return Template.of(
        {
            "body": HOLES[3],
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {
                "lang": "py",
                "task": task.name,
                "id": HOLES[0],
                "shadow": None,
                "eta": None,
                "expires": None,
                "group": None,
                "group_index": None,
                "retries": 0,
                "timelimit": [task.time_limit, task.soft_time_limit],
                "root_id": HOLES[4],
                "parent_id": HOLES[5],
                "argsrepr": "()",
                "kwargsrepr": HOLES[1],
                "origin": hostname,
                "ignore_result": True,  # ActionTask stores outcomes itself
                "replaced_task_nesting": 0,
                "stamped_headers": None,
                "stamps": {},
                TOKEN_HEADER: HOLES[6],
            },
            "properties": {
                "correlation_id": HOLES[0],
                "reply_to": app.thread_oid,
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": queue_name},
                "priority": priority,
                "body_encoding": "base64",
                "delivery_tag": HOLES[2],
            },
        }
    )


def event_envelope(app: Celery, hostname: str, routing_key: str) -> Template:
    """The envelope Celery's event dispatcher sends for ``task-sent``."""
    return Template.of(
        {
            "body": HOLES[3],
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {"hostname": hostname},
            "properties": {
                "delivery_mode": 1,
                "delivery_info": {
                    "exchange": app.conf.event_exchange,
                    "routing_key": routing_key,
                },
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": HOLES[2],
            },
        }
    )


def sent_event_body(hostname: str, action: str, queue: str) -> Template:
    """The ``task-sent`` event itself (holes: 0 uuid, 1 kwargs, 2 clock, 3 timestamp,
    4 root_id, 5 parent_id, 6 eta)."""
    return Template.of(
        {
            "hostname": hostname,
            "utcoffset": utcoffset(),
            "pid": os.getpid(),
            "clock": HOLES[2],
            "uuid": HOLES[0],
            "root_id": HOLES[4],
            "parent_id": HOLES[5],
            "name": action,
            "args": "()",
            "kwargs": HOLES[1],
            "retries": 0,
            "expires": None,
            "queue": queue,
            "exchange": "",
            "routing_key": queue,
            "timestamp": HOLES[3],
            "type": "task-sent",
            "eta": HOLES[6],
        }
    )
