"""The Django app: ``INSTALLED_APPS += ["celery_actions.django"]`` (label ``celery_actions``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.apps import AppConfig, apps

from ..errors import ConfigurationError

if TYPE_CHECKING:
    from ..client.facade import Actions
    from .outbox import TransactionHold

logger = logging.getLogger("celery_actions")
RELATED_NAME = "actions"
"""The module each installed app's actions live in."""


class CeleryActionsConfig(AppConfig):
    """Finds the ``Actions`` facade, installs the transaction hold and the outbox relay, and
    imports each installed app's ``actions.py``; registers the system checks."""

    name = "celery_actions.django"
    label = "celery_actions"
    verbose_name = "Background actions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the system checks
        from .conf import find_actions

        try:
            actions = find_actions()
        except ImportError:
            return  # the system check names the problem
        if actions is None:
            return
        try:
            install(actions)
        except ConfigurationError:
            return  # the system check names the problem
        autodiscover()


def install(actions: Actions) -> TransactionHold:
    """Hold enqueues made in transactions (``actions.hold``) and relay the outbox from every
    worker's pump; once per facade."""
    from .conf import DjangoSettings
    from .outbox import TransactionHold
    from .relay import OutboxRelay

    if isinstance(actions.hold, TransactionHold):
        return actions.hold
    hold = TransactionHold(actions, DjangoSettings.from_conf(actions.app.conf))
    actions.hold = hold
    actions.runtime.pump_hooks.append(OutboxRelay(hold))
    return hold


def autodiscover() -> list[str]:
    """Import ``<app>.actions`` for every installed app that has one, as Celery finds
    ``tasks.py``; returns the module names imported."""
    from celery.loaders.base import autodiscover_tasks

    found = autodiscover_tasks(
        [config.name for config in apps.get_app_configs()], related_name=RELATED_NAME
    )
    return [module.__name__ for module in found if module is not None]
