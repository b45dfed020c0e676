"""The test project's Celery app and its facade, configured from Django's settings."""

from __future__ import annotations

import os

from celery import Celery

from celery_actions import Actions

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.djproject.settings")

app = Celery("djproject")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()  # the apps' tasks.py (django.tasks tasks)
actions = Actions(app)
