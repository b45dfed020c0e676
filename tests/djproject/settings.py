"""Settings of the test project. ``REDIS_URL`` is the session's Redis; ``DATABASE_URL``
(postgres://...) selects PostgreSQL, else SQLite in a file that worker processes share;
``DJANGO_DB_NAME`` points a worker at the test database pytest-django created."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import dj_database_url
import django

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET_KEY = "tests-only"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.djproject.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_celery_results",
    "celery_actions.django",
    "tests.djproject.shop",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

_url = os.environ.get("DATABASE_URL", "")
_name = os.environ.get("DJANGO_DB_NAME")
if _url.startswith(("postgres://", "postgresql://")):
    DATABASES = {"default": dj_database_url.parse(_url)}
    DATABASES["default"]["TEST"] = {"NAME": f"test_celery_actions_{os.getpid()}"}
else:
    _file = str(Path(tempfile.gettempdir()) / f"celery-actions-tests-{os.getpid()}.sqlite3")
    _options: dict[str, object] = {"timeout": 30}
    if django.VERSION >= (5, 1):
        _options["init_command"] = "PRAGMA journal_mode=WAL;"
        _options["transaction_mode"] = "IMMEDIATE"  # writers lock at BEGIN: no upgrade deadlocks
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _file,
            "TEST": {"NAME": _file},
            "OPTIONS": _options,
        }
    }
if _name:
    DATABASES["default"]["NAME"] = _name

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_ACTIONS_FACADE = "tests.djproject.celery_app.actions"
CELERY_ACTIONS_OUTBOX_RELAY_AFTER = float(os.environ.get("OUTBOX_RELAY_AFTER", "1.0"))
CELERY_ACTIONS_PUMP_INTERVAL = 0.2
CELERY_ACTIONS_BROWSER_ACTIONS = {"tests.djproject.shop.actions.send_receipt": None}
CELERY_ACTIONS_BROWSER_RATE_LIMIT = os.environ.get("BROWSER_RATE_LIMIT", "50/s")
TASKS = {
    "default": {
        "BACKEND": "celery_actions.django.tasks.ActionsBackend",
        "QUEUES": [],
    }
}
