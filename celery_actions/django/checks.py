"""System checks (``manage.py check``): the settings, the facade, the result backend."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from ..core.ratelimit import RateLimit
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
    errors.extend(_browser_settings(actions))
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


def _browser_settings(actions: Any) -> list[CheckMessage]:
    """CELERY_ACTIONS_BROWSER_RATE_LIMIT parses; CELERY_ACTIONS_BROWSER_ACTIONS is a list of
    names or a dict of name to permission (or None), naming registered actions."""
    conf = actions.app.conf
    found: list[CheckMessage] = []
    spec = conf.get("actions_browser_rate_limit", "5/s")
    try:
        core: Settings | None = Settings.from_conf(conf)
    except ConfigurationError:
        core = None  # reported with the other core settings
    if core is not None and spec not in (None, "", 0):
        try:
            setting = "actions_browser_rate_limit"
            RateLimit.parse(spec, core.enqueue_burst, core.environment, setting)
        except ConfigurationError as exc:
            hint = "For example '5/s' or '300/m'; None for no limit."
            found.append(Error(_django_names(str(exc)), hint=hint, id="celery_actions.E006"))
    listed = conf.get("actions_browser_actions") or {}
    names: list[Any]
    if isinstance(listed, Mapping):
        names = list(listed)
        bad = [p for p in listed.values() if p is not None and not isinstance(p, str)]
    elif isinstance(listed, list | tuple | set | frozenset):
        names, bad = list(listed), []
    else:
        names, bad = [], [listed]
    if bad or not all(isinstance(n, str) for n in names):
        found.append(Error(
            f"CELERY_ACTIONS_BROWSER_ACTIONS must be a list of action names, or a dict of "
            f"action name to a permission name or None; got {listed!r}",
            id="celery_actions.E007",
        ))  # fmt: skip
        return found
    unknown = sorted(n for n in names if n not in actions.registered)
    if unknown:
        found.append(Warning(
            f"CELERY_ACTIONS_BROWSER_ACTIONS names no registered action: {', '.join(unknown)}",
            hint="Use the task names (such as 'shop.actions.ship'); registered: "
            + (", ".join(sorted(actions.registered)) or "none"),
            id="celery_actions.W001",
        ))  # fmt: skip
    return found


def _django_names(text: str) -> str:
    """``actions_lease_timeout`` as Django spells it: ``CELERY_ACTIONS_LEASE_TIMEOUT``."""
    return re.sub(r"\bactions_(\w+)", lambda m: f"CELERY_ACTIONS_{m.group(1).upper()}", text)
