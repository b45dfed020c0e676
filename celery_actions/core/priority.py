"""Priority: the option's values, and their numbers on each kind of broker.

Redis reads a queue's priority lists with BRPOP lowest number first, and a message without
a priority lands in list 0 (the top); RabbitMQ (``x-max-priority``) runs the highest number
first. So ``high``/``default``/``low`` are 0/5/9 on Redis and 9/5/1 on AMQP, and
``task_default_priority`` is 5 so plain Celery tasks sit with ``default`` on both.
"""

from __future__ import annotations

from enum import StrEnum

from .protocol import PRIORITY_BANDS

DEFAULT_BROKER_PRIORITY = 5
REDIS_TRANSPORTS = frozenset({"redis", "rediss", "sentinel"})


class Priority(StrEnum):
    """How soon an action runs relative to others. ``medium`` is accepted for ``default``."""

    LOW = "low"
    DEFAULT = "default"
    HIGH = "high"

    @property
    def band(self) -> int:
        """0 for high, 1 for default, 2 for low: the order a queue's waiting line takes."""
        return PRIORITY_BANDS[self.value]


_REDIS = {Priority.HIGH: 0, Priority.DEFAULT: DEFAULT_BROKER_PRIORITY, Priority.LOW: 9}
_AMQP = {Priority.HIGH: 9, Priority.DEFAULT: DEFAULT_BROKER_PRIORITY, Priority.LOW: 1}


def broker_priorities(transport: str) -> dict[Priority, int]:
    """Our three priorities as the message priorities of a broker transport
    (``"redis"``, ``"amqp"``, ...)."""
    return dict(_REDIS if transport in REDIS_TRANSPORTS else _AMQP)


MAX_BROKER_PRIORITY = 255
"""The largest message priority AMQP allows (Celery's ``priority=`` option)."""


def priority_of_number(number: int, transport: str) -> Priority:
    """A Celery message priority number (``apply_async(priority=...)``) as our priority.

    On Redis the number picks one of kombu's lists (0-2, 3-5, 6-8, 9: lowest read first),
    so 0-2 is ``high``, 3-5 ``default`` (the list of 5, where plain tasks sit) and 6-9
    ``low``. On AMQP a higher number runs first: above 5 is ``high``, 5 ``default``,
    below 5 ``low``.
    """
    if transport in REDIS_TRANSPORTS:
        if number <= 2:
            return Priority.HIGH
        return Priority.DEFAULT if number <= DEFAULT_BROKER_PRIORITY else Priority.LOW
    if number > DEFAULT_BROKER_PRIORITY:
        return Priority.HIGH
    return Priority.DEFAULT if number == DEFAULT_BROKER_PRIORITY else Priority.LOW
