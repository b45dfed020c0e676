"""Settings of the benchmark project (see the package docstring)."""

from __future__ import annotations

import os

import dj_database_url
import django

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET_KEY = "benchmarks-only"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = ["django.contrib.contenttypes", "celery_actions.django", "benchmarks.djbench"]
if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("BENCH_SQLITE", "/tmp/celery-actions-bench.sqlite3"),
            "OPTIONS": {"timeout": 30},
        }
    }
    if django.VERSION >= (5, 1):  # writers take the lock at BEGIN: no upgrade deadlocks
        DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
        # readers (a model action loading its record) do not wait for writers
        DATABASES["default"]["OPTIONS"]["init_command"] = "PRAGMA journal_mode=WAL;"
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_ACTIONS_KEY_PREFIX = "djbench:"
CELERY_ACTIONS_FACADE = "benchmarks.djbench.celery_app.actions"
