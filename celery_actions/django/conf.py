"""The Django integration's settings, and where it finds the ``Actions`` facade.

The settings are ``CELERY_ACTIONS_*`` names, read through the Celery app's config (with
``app.config_from_object("django.conf:settings", namespace="CELERY")`` they arrive as
``actions_*``), beside the core settings of ``core/settings.py``:

====================================== ========= ==================================================
Django setting                          default   meaning
====================================== ========= ==================================================
``CELERY_ACTIONS_ON_COMMIT``            ``True``  enqueue inside ``atomic()`` waits for the commit
                                                  (transactional outbox); ``False``: publish at once
``CELERY_ACTIONS_DATABASE``             default   the database alias whose transactions are followed
                                                  and that holds the outbox
``CELERY_ACTIONS_OUTBOX_RELAY_AFTER``   ``5.0``   seconds after which a pump publishes a committed
                                                  outbox row (if its process did not) and deletes it
``CELERY_ACTIONS_FACADE``               ``None``  dotted path of the ``Actions`` instance; default:
                                                  the one of Celery's current app
``CELERY_ACTIONS_BROWSER_ACTIONS``      ``{}``    actions browsers may enqueue besides those marked
                                                  ``browser=``: names, or name -> permission
``CELERY_ACTIONS_BROWSER_RATE_LIMIT``   ``5/s``   each browser identity's enqueue leaky bucket
                                                  (``None``: none); see docs/dashboard.md
====================================== ========= ==================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError

if TYPE_CHECKING:
    from ..client.facade import Actions

DJANGO_DEFAULTS: dict[str, Any] = {
    "on_commit": True,
    "database": "default",
    "outbox_relay_after": 5.0,
    "facade": None,
}


@dataclass(frozen=True, slots=True)
class DjangoSettings:
    """The Django integration's settings, validated once."""

    on_commit: bool
    database: str
    outbox_relay_after_s: float

    @classmethod
    def from_conf(cls, conf: Mapping[str, Any]) -> DjangoSettings:
        """Read ``actions_on_commit``, ``actions_database``, ``actions_outbox_relay_after``."""

        def get(name: str) -> Any:
            value = conf.get(f"actions_{name}")
            return DJANGO_DEFAULTS[name] if value is None else value

        on_commit = get("on_commit")
        if not isinstance(on_commit, bool):
            raise ConfigurationError(
                f"CELERY_ACTIONS_ON_COMMIT must be True or False, got {on_commit!r}"
            )
        database = get("database")
        if not isinstance(database, str) or not database:
            raise ConfigurationError(
                f"CELERY_ACTIONS_DATABASE must be a database alias, got {database!r}"
            )
        relay_after = get("outbox_relay_after")
        if isinstance(relay_after, bool) or not isinstance(relay_after, int | float):
            raise ConfigurationError(
                f"CELERY_ACTIONS_OUTBOX_RELAY_AFTER must be seconds > 0, got {relay_after!r}"
            )
        if not relay_after > 0:
            raise ConfigurationError(
                f"CELERY_ACTIONS_OUTBOX_RELAY_AFTER must be seconds > 0, got {relay_after!r}"
            )
        return cls(on_commit, database, float(relay_after))


def find_actions() -> Actions | None:
    """The project's ``Actions``: ``CELERY_ACTIONS_FACADE``, else Celery's current app's."""
    from celery import current_app
    from django.conf import settings
    from django.utils.module_loading import import_string

    from ..client.facade import Actions

    path = getattr(settings, "CELERY_ACTIONS_FACADE", None)
    found = import_string(path) if path else getattr(current_app, "celery_actions", None)
    return found if isinstance(found, Actions) else None


def get_actions() -> Actions:
    """The project's ``Actions``; raises ConfigurationError with what to do when none."""
    found = find_actions()
    if found is None:
        raise ConfigurationError(
            "celery_actions.django found no Actions facade: create `actions = Actions(app)` "
            "in your Celery module and import that module in your project package's "
            "__init__.py (as Celery's Django guide does), or set CELERY_ACTIONS_FACADE to "
            "its dotted path ('proj.celery.actions')"
        )
    return found
