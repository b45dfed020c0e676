"""The shop's Celery app and its ``Actions`` facade: wiring only, no actions here.

Configured from Django's settings (``CELERY_*``): broker, result backend and coordination
all use ``REDIS_URL``. Run a worker (and beat, for the nightly report) with::

    REDIS_URL=redis://127.0.0.1:6379/0 celery -A example_project worker -B
"""

from __future__ import annotations

import os

from celery import Celery

from celery_actions import Actions

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

app = Celery("shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()  # shop/tasks.py (the beat tick)
actions = Actions(app)
