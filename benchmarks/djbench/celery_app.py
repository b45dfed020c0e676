"""The benchmark project's Celery app and facade (key prefix ``djbench:``)."""

from __future__ import annotations

import os

from celery import Celery

from celery_actions import Actions

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.djbench.settings")

app = Celery("djbench")
app.config_from_object("django.conf:settings", namespace="CELERY")
actions = Actions(app)
