"""Riding out a Redis restart, failover or stall: retry a state change with backoff.

Every lifecycle script is idempotent for its caller (a claim carries a claim id, an
outcome is kept under the attempt's token, a renew is a renew), so a call whose reply was
lost can simply be made again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import redis

logger = logging.getLogger("celery_actions")
T = TypeVar("T")

TRANSIENT: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.BusyLoadingError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.TryAgainError,
)
"""Errors of a Redis that is restarting, failing over or stalled: worth a retry."""


def retrying(call: Callable[[], T], what: str, give_up_after_s: float) -> T:
    """Run ``call``, retrying transient Redis errors with backoff (50 ms doubling up to
    2 s) for up to ``give_up_after_s`` seconds; then the last error is raised."""
    deadline = time.monotonic() + give_up_after_s
    delay, failures = 0.05, 0
    while True:
        try:
            result = call()
        except TRANSIENT as exc:
            failures += 1
            if time.monotonic() + delay > deadline:
                logger.error(
                    "celery-actions: Redis unavailable for %.0fs while %s; giving up: %s",
                    give_up_after_s, what, exc,
                )  # fmt: skip
                raise
            if failures == 1:
                logger.warning(
                    "celery-actions: Redis unavailable while %s (%s); retrying for up to %.0fs",
                    what, exc, give_up_after_s,
                )  # fmt: skip
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
            continue
        if failures:
            logger.warning("celery-actions: Redis is back; %s after %d retries", what, failures)
        return result


class Outage:
    """A loop's view of a Redis outage: one log line when it starts and one when it ends
    (not one per failed pass), and how long to wait before the next try (100 ms doubling
    up to 1 s, so a short blip costs little and a long outage little CPU)."""

    def __init__(self) -> None:
        self.failures = 0
        self.started = 0.0

    def failed(self, exc: BaseException) -> float:
        """Count a failed pass; returns the wait before the next."""
        if not self.failures:
            self.started = time.monotonic()
            logger.warning("celery-actions: Redis unavailable (%s); the pump keeps trying", exc)
        self.failures += 1
        return min(0.1 * 2.0 ** min(self.failures - 1, 4), 1.0)

    def over(self) -> None:
        """A pass went through: log the end of an outage, if there was one."""
        if self.failures:
            logger.warning(
                "celery-actions: Redis is back after %.1fs; the pump goes on",
                time.monotonic() - self.started,
            )
            self.failures = 0
