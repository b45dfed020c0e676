"""Records the django.tasks signals a process sends in Redis (``django-signals`` list), so
tests see those the workers send."""

from __future__ import annotations

import json
import os
from typing import Any

import redis

from celery_actions.django._tasks_api import task_enqueued, task_finished, task_started

r = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))


def _recorder(name: str) -> Any:
    def record(sender: Any, task_result: Any, **kwargs: Any) -> None:
        entry = {"signal": name, "id": task_result.id, "status": str(task_result.status)}
        r.rpush(f"django-signals:{task_result.id}", json.dumps(entry))

    return record


for _name, _signal in (("enqueued", task_enqueued), ("started", task_started),
                       ("finished", task_finished)):  # fmt: skip
    _signal.connect(_recorder(_name), weak=False, dispatch_uid=f"tests-{_name}")
