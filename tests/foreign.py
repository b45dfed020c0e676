"""A plain Celery app that never imports celery_actions: the foreign producer.

It stands for another service, an older deploy or a beat process that does not import
the actions' module: it sends the actions' messages by name (``send_task``), with no
dispatch token. REDIS_URL (broker and results) and BEAT_SCHEDULE (JSON, for
``celery -A tests.foreign beat``) come from the environment.
"""

from __future__ import annotations

import json
import os

from celery import Celery

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

app = Celery("foreign", broker=REDIS_URL, backend=REDIS_URL)
app.conf.beat_schedule = json.loads(os.environ.get("BEAT_SCHEDULE", "{}"))
