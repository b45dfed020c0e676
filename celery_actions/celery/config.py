"""The Celery settings our guarantees need, and the checks of them at worker start.

Priorities: ``task_default_priority`` is 5 so plain Celery tasks sit with ``default`` on
Redis and on AMQP (see ``core/priority.py`` for the numbers of each priority).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery

from ..core.priority import DEFAULT_BROKER_PRIORITY, REDIS_TRANSPORTS, Priority
from ..core.priority import broker_priorities as _priorities_of

logger = logging.getLogger("celery_actions")


# Applied as defaults: a user's explicit setting wins (and is checked at worker start).
CELERY_DEFAULTS: dict[str, Any] = {
    "worker_prefetch_multiplier": 1,
    "task_queue_max_priority": 10,
    "task_default_priority": DEFAULT_BROKER_PRIORITY,
    "worker_send_task_events": True,
    "task_send_sent_event": True,
    "result_extended": True,
    "broker_connection_retry_on_startup": True,
}


def broker_transport(app: Celery) -> str:
    """The broker's transport name ("redis", "amqp", ...)."""
    url = app.conf.broker_url or "amqp://"
    return str(url).split("://", 1)[0].split("+", 1)[0]


def broker_priorities(app: Celery) -> dict[Priority, int]:
    """Our three priorities as the message priorities of this app's broker."""
    return _priorities_of(broker_transport(app))


def apply_defaults(app: Celery) -> None:
    """Install the settings the guarantees need, as defaults under the user's config."""
    app.add_defaults(CELERY_DEFAULTS)


def check_worker_settings(app: Celery, lease_timeout_s: float) -> list[str]:
    """Warnings about settings that break a guarantee; logged at worker start."""
    conf = app.conf
    problems: list[str] = []
    if (conf.worker_prefetch_multiplier or 0) > 1 and not conf.get("worker_disable_prefetch"):
        problems.append(
            f"worker_prefetch_multiplier={conf.worker_prefetch_multiplier}: a worker reserves "
            "messages ahead, so a later high-priority action waits behind them; set it to 1"
        )
    if broker_transport(app) in REDIS_TRANSPORTS:
        options = conf.broker_transport_options or {}
        visibility = float(options.get("visibility_timeout", 3600))
        if visibility < lease_timeout_s:
            problems.append(
                f"broker visibility_timeout={visibility:g}s is shorter than "
                f"actions_lease_timeout={lease_timeout_s:g}s: long actions are redelivered "
                "(dropped as duplicates, but it costs a message each time)"
            )
    if not conf.worker_send_task_events:
        problems.append("worker_send_task_events is off: Flower will not see actions run")
    return problems


def warn_all(problems: list[str]) -> None:
    """Log each problem as a warning."""
    for text in problems:
        logger.warning("celery-actions: %s", text)
