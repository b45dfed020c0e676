"""Celery's ``self.retry()`` inside an action: a failed attempt the action's retry policy
records (``core/retry.py``'s one decision), never a second message under the same id.

``self.retry(exc=, countdown=, eta=, max_retries=)`` raises :class:`RetryRequested`; the
attempt records it as a failure whose delay (``countdown``/``eta``) and retry count
(``max_retries``) are the call's when given, else the policy's. When no retry is left
it fails with ``exc`` (or Celery's ``MaxRetriesExceededError``), as Celery's does.
A ``celery.exceptions.Retry`` raised by hand is taken the same way.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

from celery.exceptions import MaxRetriesExceededError, Retry

from ..errors import InvalidOptions


class RetryMisuse(InvalidOptions):
    """``self.retry()`` was asked for something an action cannot do (not retried)."""


class RetryRequested(Exception):
    """Raised by ``self.retry()`` in an action; the attempt records it."""

    def __init__(
        self, exc: BaseException | None, delay_ms: int | None, max_retries: int | None
    ) -> None:
        super().__init__(f"retry requested: {exc!r}" if exc is not None else "retry requested")
        self.exc = exc
        self.delay_ms = delay_ms
        self.max_retries = max_retries

    def error(self) -> BaseException:
        """What the attempt failed with: ``exc``, else the retry itself."""
        if self.exc is not None:
            return self.exc
        retry: BaseException = Retry("retry requested by the action")
        return retry

    def final_error(self, task: Any) -> BaseException:
        """What the action fails with when no retry is left."""
        if self.exc is not None:
            return self.exc
        request = task.request
        error: BaseException = MaxRetriesExceededError(
            f"Can't retry {task.name}[{request.id}] kwargs:{request.kwargs}"
        )
        return error


def _delay_ms(eta: Any, countdown: Any) -> int | None:
    if countdown is not None:
        if isinstance(countdown, bool) or not isinstance(countdown, int | float):
            raise RetryMisuse(f"countdown must be seconds, got {countdown!r}", field="countdown")
        return max(0, int(countdown * 1000))
    if eta is None:
        return None
    if not isinstance(eta, datetime) or eta.tzinfo is None:
        raise RetryMisuse(f"eta must be an aware datetime, got {eta!r}", field="eta")
    return max(0, int((eta - datetime.now(UTC)).total_seconds() * 1000))


def requested(
    *,
    args: Any,
    kwargs: Any,
    exc: BaseException | None,
    throw: bool,
    eta: Any,
    countdown: Any,
    max_retries: Any,
    options: dict[str, Any],
) -> RetryRequested:
    """The retry an action's ``self.retry(...)`` asks for (or RetryMisuse)."""
    if args is not None or kwargs is not None:
        raise RetryMisuse(
            "self.retry(args=, kwargs=) cannot change an action's params: a retry runs the "
            "same params (enqueue a new action for others)",
            field="kwargs",
        )
    if options:
        raise RetryMisuse(
            f"self.retry() options {sorted(options)} cannot apply to an action's retry",
            field=sorted(options)[0],
        )
    if not throw:
        raise RetryMisuse("self.retry(throw=False) is not supported by actions", field="throw")
    if max_retries is not None and (
        isinstance(max_retries, bool) or not isinstance(max_retries, int)
    ):
        raise RetryMisuse(f"max_retries must be an int, got {max_retries!r}", field="max_retries")
    if exc is None:
        exc = sys.exc_info()[1]  # inside an except block, as Celery's retry takes it
    return RetryRequested(exc, _delay_ms(eta, countdown), max_retries)


def from_retry(retry: Retry) -> RetryRequested:
    """A ``celery.exceptions.Retry`` raised by the action itself."""
    when = retry.when
    if isinstance(when, int | float) and not isinstance(when, bool):
        delay: int | None = max(0, int(when * 1000))
    elif isinstance(when, datetime):
        aware = when if when.tzinfo else when.replace(tzinfo=UTC)
        delay = max(0, int((aware - datetime.now(UTC)).total_seconds() * 1000))
    else:
        delay = None
    exc = retry.exc if isinstance(retry.exc, BaseException) else None
    return RetryRequested(exc, delay, None)
