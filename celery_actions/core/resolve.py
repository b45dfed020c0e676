"""Option precedence, resolved in one place: the enqueue call, then the action's
declared defaults, then the settings (environment)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from .options import EnqueueOptions, QueueOption, RetryPolicy
from .priority import Priority
from .retry import RetrySchedule
from .settings import Environment

DEFAULT_RETRY_FOR = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class ResolvedOptions:
    """The options one action runs with, after precedence and defaults."""

    start_at: datetime | None
    retry: RetrySchedule
    group: str | None
    """The concurrency group (Gadget's ``queue``), or None for no limit."""
    max_concurrency: int
    priority: Priority
    id: str | None
    on_duplicate_id: Literal["error", "ignore"]
    celery_queue: str | None
    """The Celery queue the message is routed to (None: Celery's routing)."""

    @property
    def start_at_ms(self) -> int | None:
        """``start_at`` as milliseconds since the epoch."""
        return None if self.start_at is None else int(self.start_at.timestamp() * 1000)


def default_retry_count(environment: Environment) -> int:
    """Gadget's defaults: 6 retries in production, 2 in development."""
    return 2 if environment == "development" else 6


def _retry_schedule(values: dict[str, Any], environment: Environment) -> RetrySchedule:
    retries = values.get("retries")
    if retries is None:
        policy = RetryPolicy()
    elif isinstance(retries, int):
        policy = RetryPolicy(retry_count=retries)
    else:
        policy = retries
    retry_for = values.get("retry_for_ms")
    return RetrySchedule(
        retry_count=(
            default_retry_count(environment) if policy.retry_count is None else policy.retry_count
        ),
        initial_interval_ms=policy.initial_interval_ms,
        max_interval_ms=policy.max_interval_ms,
        backoff_factor=policy.backoff_factor,
        randomize=policy.randomize_interval,
        retry_for_ms=(
            int(DEFAULT_RETRY_FOR.total_seconds() * 1000) if retry_for is None else retry_for
        ),
    )


def resolve(
    call: EnqueueOptions, action: EnqueueOptions | None, environment: Environment
) -> ResolvedOptions:
    """Apply precedence (call, then action, then settings) and fill in the defaults."""
    values: dict[str, Any] = {}
    for layer in (action, call):
        if layer is not None:
            for name in layer.model_fields_set:
                values[name] = getattr(layer, name)
    queue = values.get("queue")
    if isinstance(queue, str):
        queue = QueueOption(name=queue)
    start_at = values.get("start_at")
    return ResolvedOptions(
        start_at=None if start_at is None else start_at.astimezone(UTC),
        retry=_retry_schedule(values, environment),
        group=None if queue is None else queue.name,
        max_concurrency=1 if queue is None else queue.max_concurrency,
        priority=values.get("priority") or Priority.DEFAULT,
        id=values.get("id"),
        on_duplicate_id=values.get("on_duplicate_id") or "error",
        celery_queue=values.get("celery_queue"),
    )
