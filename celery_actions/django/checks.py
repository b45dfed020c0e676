"""System checks (``manage.py check``): the settings, the facade, the result backend."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from ..core.settings import Settings
from ..errors import ConfigurationError
from .conf import DjangoSettings, find_actions

TAG = "celery_actions"


@register(TAG)
def check_configuration(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every ``CELERY_ACTIONS_*`` setting valid, a facade found, the database known."""
    try:
        actions = find_actions()
    except ImportError as exc:
        return [
            Error(
                f"CELERY_ACTIONS_FACADE cannot be imported: {exc}",
                hint="Set it to the dotted path of your Actions instance, "
                "such as 'proj.celery.actions'.",
                id="celery_actions.E003",
            )
        ]
    if actions is None:
        return [
            Error(
                "No celery-actions facade found.",
                hint="Create `actions = Actions(app)` in your Celery module and import that "
                "module in your project package's __init__.py, or set CELERY_ACTIONS_FACADE "
                "to its dotted path.",
                id="celery_actions.E001",
            )
        ]
    errors: list[CheckMessage] = []
    conf = actions.app.conf
    for reader in (Settings.from_conf, DjangoSettings.from_conf):
        try:
            reader(conf)
        except ConfigurationError as exc:
            errors.append(
                Error(
                    _django_names(str(exc)),
                    hint="See docs/operations.md and docs/django.md for the allowed values.",
                    id="celery_actions.E002",
                )
            )
    database = conf.get("actions_database") or "default"
    if isinstance(database, str) and database not in settings.DATABASES:
        errors.append(
            Error(
                f"CELERY_ACTIONS_DATABASE is {database!r}, which is not in DATABASES.",
                hint=f"Use one of: {', '.join(settings.DATABASES)}.",
                id="celery_actions.E004",
            )
        )
    backend = conf.result_backend
    if (
        isinstance(backend, str)
        and backend.startswith("django-")
        and "django_celery_results" not in settings.INSTALLED_APPS
    ):
        errors.append(
            Error(
                f"CELERY_RESULT_BACKEND is {backend!r} but django_celery_results is not installed.",
                hint="Add 'django_celery_results' to INSTALLED_APPS and run migrate.",
                id="celery_actions.E005",
            )
        )
    return errors


def _django_names(text: str) -> str:
    """``actions_lease_timeout`` as Django spells it: ``CELERY_ACTIONS_LEASE_TIMEOUT``."""
    return re.sub(r"\bactions_(\w+)", lambda m: f"CELERY_ACTIONS_{m.group(1).upper()}", text)
