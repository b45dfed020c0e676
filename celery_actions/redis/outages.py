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
