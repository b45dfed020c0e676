"""The shop's Django settings.

- Database: ``DATABASE_URL`` (``postgres://user@host:5432/name``) selects PostgreSQL;
  otherwise SQLite at ``SQLITE_PATH`` [``example_project/db.sqlite3``].
- Redis: ``REDIS_URL`` [redis://127.0.0.1:6379/0] is the broker, the result backend and
  celery-actions' coordinating Redis. ``ACTIONS_ENVIRONMENT=development`` gives Gadget's
  short development retry defaults.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
import django
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "the-demo-shop-is-not-a-secret")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "example_project.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "static/"
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "celery_actions.django",
    "example_project.shop",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
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

if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH") or str(BASE_DIR / "db.sqlite3"),
            # the demo process and the worker's threads write at once: wait for the lock
            "OPTIONS": {"timeout": 30},
        }
    }
    if django.VERSION >= (5, 1):  # writers take the lock at BEGIN: no upgrade deadlocks
        DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
        # readers (a model action loading its record) do not wait for writers
        DATABASES["default"]["OPTIONS"]["init_command"] = "PRAGMA journal_mode=WAL;"

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_ACTIONS_ENVIRONMENT = os.environ.get("ACTIONS_ENVIRONMENT", "production")
# Browsers may enqueue this one themselves (the page's "Refresh stock" button, through the
# browser API and its JS client); the rest are enqueued by the shop's own views.
CELERY_ACTIONS_BROWSER_ACTIONS = ["example_project.shop.actions.sync_product"]
CELERY_BEAT_SCHEDULE = {
    "nightly-report": {
        "task": "example_project.shop.tasks.nightly_report_tick",
        "schedule": crontab(hour=2, minute=0),
    }
}
