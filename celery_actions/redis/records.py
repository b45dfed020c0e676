"""The values passed to and returned from the Redis layer: plain dataclasses."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..core.protocol import ActionStatus, EnqueueOutcome, Outcome

OnDuplicate = Literal["error", "ignore", "new"]
"""What enqueue does with a taken id: raise, skip the job, or never look ('new': the caller
guarantees fresh ids, so envelopes can be written beside the script)."""


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What the jobs of one enqueue share: the action and its resolved options."""

    action: str
    options_json: str
    priority: str
    group: str = ""
    """The concurrency group ('' for none)."""
    limit: int = 1
    celery_queue: str = ""
    list_key: str = ""
    """The Redis broker list the jobs' envelopes go to ('': publish through kombu)."""
    carried: str = ""
    """What the jobs' messages carry besides params, as JSON (the record's ``celery``
    field: canvas, headers, expires; see ``core/calls.py``), or ''."""
    identity: str = ""
    """Who enqueued them from a browser ('' for none)."""

    def args(self) -> tuple[Any, ...]:
        """The spec as ``enqueue.lua`` takes it."""
        return (
            self.action,
            self.options_json,
            self.priority,
            self.group,
            self.limit,
            self.celery_queue,
            self.list_key,
            self.carried,
            self.identity,
        )


@dataclass(slots=True)  # not frozen: built per bulk item, and frozen __init__ costs 3x
class NewJob:
    """A validated job, ready to be written."""

    id: str
    spec: JobSpec
    params_json: str
    start_at_ms: int | None = None
    envelope: str = ""
    """The Celery message of its first dispatch (on the Redis broker fast path)."""
    token: str = ""
    """The dispatch token that envelope carries (random)."""

    @property
    def dispatched_now(self) -> bool:
        """Pushed to the broker at once: no group, no startAt, a broker list."""
        spec = self.spec
        return not spec.group and self.start_at_ms is None and bool(spec.list_key)


@dataclass(frozen=True, slots=True)
class MessageRow:
    """What a publisher needs to send one job's message."""

    id: str
    token: str
    action: str
    params_json: str
    priority: str
    celery_queue: str
    failures: str = "0"
    """Failed attempts so far: the message's ``retries`` (Flower, ``AsyncResult.retries``)."""
    carried: str = ""
    """The record's ``celery`` field: canvas, headers, expires (JSON), or ''."""


@dataclass(slots=True)
class Dispatch:
    """Messages to publish, and the outbox reservation to confirm once the broker has them.

    Every state change that returns one must be followed by publishing it;
    ``celery/dispatcher.py`` is the one place that does both.
    """

    reserved: int = 0
    rows: list[MessageRow] = field(default_factory=list)

    @classmethod
    def parse(cls, reserved: Any, rows: Iterable[Sequence[Any]]) -> Dispatch:
        """Build from a script reply."""
        return cls(int(reserved), [MessageRow(*(str(v) for v in r)) for r in rows])


@dataclass(frozen=True, slots=True)
class Enqueued:
    """What an enqueue wrote: each job's outcome, and the messages left to publish."""

    outcomes: list[EnqueueOutcome]
    dispatch: Dispatch


@dataclass(frozen=True, slots=True)
class Claim:
    """A job a worker may run now."""

    attempts: int
    failures: int
    """Failed attempts before this one."""
    first_started_ms: int
    options_json: str
    now_ms: int
    """The Redis server's clock at the claim."""


ResultPayload = tuple[str, Any, int, str]
"""A result meta stored by finish.lua: backend key, encoded meta, expiry ms, and the status
it is for."""


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """An attempt's outcome as its worker decided it (``core/retry.py``), for ``finish.lua``."""

    outcome: Outcome
    delay_ms: int = 0
    """For a retry: how long until it is due."""
    reason: str = ""
    error: str = ""
    error_type: str = ""
    traceback: str = ""
    result: ResultPayload | None = None
    """The result meta to store in the same call, when the backend allows it."""


@dataclass(frozen=True, slots=True)
class Finished:
    """What recording an attempt's outcome did."""

    status: ActionStatus | None
    """The status written; None when the attempt was stale (its lease was reclaimed)."""
    dispatch: Dispatch
    due_ms: int | None
    """When the retry is due, for a retry."""
    result_stored: bool
    """Whether the result meta was stored in the same call."""


CancelOutcome = Literal["cancelled", "running", "final", "missing"]


@dataclass(frozen=True, slots=True)
class Cancelled:
    """What a cancel did: 'cancelled', or why not ('running', 'final', 'missing')."""

    outcome: CancelOutcome
    dispatch: Dispatch


RetryOutcome = Literal["retried", "unchanged", "missing"]


@dataclass(frozen=True, slots=True)
class Retried:
    """What an operator's "retry now" did: 'retried' (made ready now), or why not:
    'unchanged' (complete, waiting or running) or 'missing'."""

    outcome: RetryOutcome
    dispatch: Dispatch


@dataclass(frozen=True, slots=True)
class Suspect:
    """A dispatched job nobody claimed within the dispatch timeout: is its message still
    in the broker?"""

    id: str
    token: str
    action: str
    priority: str
    celery_queue: str


@dataclass(frozen=True, slots=True)
class PumpPass:
    """What one pump pass found."""

    dispatch: Dispatch
    next_due_ms: int | None
    failed: list[str]
    """Jobs that failed for good: their worker died too many times."""
    suspects: list[Suspect] = field(default_factory=list)
    stall_ms: int = 0
    """How long no pump pass ran before this one, when that was long enough to extend
    every lease by it (Redis stalled or down); else 0."""
    waited: list[str] = field(default_factory=list)
    """Jobs that began to wait for a slot of their queue (due, but the queue is full)."""
    cancelled: list[str] = field(default_factory=list)
    """Jobs revoked while they ran whose worker was lost: cancelled, not run again."""


@dataclass(frozen=True, slots=True)
class Redispatched:
    """Jobs dispatched again (lost messages, abandoned attempts)."""

    dispatch: Dispatch
    ids: list[str]
    failed: list[str] = field(default_factory=list)
    """Abandoned attempts that failed for good (their worker died too many times)."""
    cancelled: list[str] = field(default_factory=list)
    """Abandoned attempts revoked while they ran: cancelled, not run again."""


@dataclass(frozen=True, slots=True)
class ClaimRefused:
    """A message that may not run: stale (``forged`` False) or forged."""

    status: str
    forged: bool
    why: str


@dataclass(frozen=True, slots=True)
class TrimPass:
    """What one pass over the indexes dropped."""

    removed: int
    cursors: tuple[int, int]
    """Where the next pass goes on in the action and group names."""
