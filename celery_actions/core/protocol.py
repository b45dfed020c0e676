"""The wire protocol between Python, the Lua scripts and Celery messages, in one place.

- :data:`TOKEN_HEADER`: the Celery message header carrying a job's dispatch token.
- :class:`Field`: the fields of a job record (the ``P job:<id>`` hash).
- :class:`ActionStatus`: a job's status, as stored and as the public API returns it.
- :class:`Outcome`: what a worker reports of one attempt.
- :class:`EnqueueOutcome`: what became of one job at enqueue.
- :class:`CancelMode`: what a cancel does to a running job.
- :data:`PRIORITY_BANDS` and :data:`BAND_SPAN`: the order of a queue's waiting line.
- :class:`Stat`: the per-minute counters the dashboard charts.
- :class:`QueueOp`: what an operator may do to a queue.
- :data:`TIMELINE_KEYS`: the fields of one attempt in an action's timeline.

The Lua scripts get the token header and the bands from here (``redis/scripts.py``
prepends them as Lua constants); a test checks that every field, status and outcome the
Lua scripts name is one of these.
"""

from __future__ import annotations

from enum import StrEnum

TOKEN_HEADER = "actions_token"
"""Celery message header with the job's dispatch token (a message with another token is
stale and is dropped)."""

PRIORITY_BANDS = {"high": 0, "default": 1, "low": 2}
"""A queue's waiting line is ordered by band, then by arrival."""

BAND_SPAN = 2**44
"""Arrivals per band in a waiting set's score: ``band * BAND_SPAN + arrival``."""


class Field(StrEnum):
    """The fields of a job record. Counters and empty strings may be absent (0 or '')."""

    ACTION = "action"
    """The Celery task name."""
    PARAMS = "params"
    """The params as JSON."""
    OPTIONS = "options"
    """What the worker needs of the resolved options (the retry policy), as JSON."""
    PRIORITY = "priority"
    """``low``, ``default`` or ``high``."""
    QUEUE = "queue"
    """The concurrency group's name, or absent."""
    LIMIT = "limit"
    """The ``maxConcurrency`` this job was enqueued with."""
    CELERY_QUEUE = "cq"
    """The Celery queue the message is routed to, or absent (Celery's routing)."""
    STATUS = "status"
    """An :class:`ActionStatus` value."""
    REASON = "reason"
    """Why it waits, retries or failed, for people."""
    TOKEN = "token"
    """The current dispatch token (random); absent while no message may run the job."""
    DISPATCHES = "dispatches"
    """How many times the job was dispatched."""
    CLAIM = "claim"
    """The id of the claim that started the running attempt (a repeated claim is granted)."""
    DONE = "done"
    """The last recorded outcome: ``<token> <status> <due> <stored>`` (a repeated finish
    returns it)."""
    CREATED_AT = "created_at"
    START_AT = "start_at"
    STARTED_AT = "started_at"
    FIRST_STARTED_AT = "first_started_at"
    FINISHED_AT = "finished_at"
    NEXT_ATTEMPT_AT = "next_attempt_at"
    ATTEMPTS = "attempts"
    """Attempts claimed by a worker."""
    FAILURES = "failures"
    """Attempts that raised."""
    LOST = "lost"
    """Attempts whose worker died (a poison message fails after too many)."""
    WORKER = "worker"
    """``hostname:pid`` of the worker that claimed the last attempt."""
    ERROR = "error"
    ERROR_TYPE = "error_type"
    CANCEL_REQUESTED = "cancel_requested"
    """Set when ``cancel()`` finds the job running: it is not retried."""
    CELERY = "celery"
    """What every Celery message of the job carries besides its params, as JSON: the
    canvas (callbacks, errbacks, chain, chord, group), lineage, headers, expires, shadow
    and time limits (see ``core/calls.py``); absent for a plain enqueue."""
    ENVELOPE_KEY = "env_key"
    """The broker list a stored envelope goes to (Redis broker fast path)."""
    ENVELOPE = "env"
    """The Celery message of the job's first dispatch, kept until it is due or admitted."""
    IDENTITY = "identity"
    """Who enqueued it from a browser (``u:<user pk>`` or ``s:<session hash>``), or absent:
    only that identity may read it through the browser API."""
    QUEUED_AT = "queued_at"
    """When it began waiting for a slot of its queue (while it waits)."""
    SLOT_WAIT = "slot_wait"
    """How long (ms) the current or last attempt waited for a slot of its queue."""


class ActionStatus(StrEnum):
    """Where an action is in its life."""

    SCHEDULED = "scheduled"
    """Waiting for its ``startAt``."""
    WAITING = "waiting"
    """Ready: in the broker, or waiting for a slot of its queue (see ``reason``)."""
    RUNNING = "running"
    """A worker is running it."""
    RETRYING = "retrying"
    """An attempt failed and retries are left; waiting for the retry delay."""
    FAILED = "failed"
    """Every attempt failed (or the retry window closed)."""
    COMPLETE = "complete"
    """An attempt succeeded."""
    CANCELLED = "cancelled"
    """Cancelled before it could complete."""

    @property
    def finished(self) -> bool:
        """True for failed, complete and cancelled."""
        return self in _FINISHED


_FINISHED = frozenset({ActionStatus.FAILED, ActionStatus.COMPLETE, ActionStatus.CANCELLED})


class Outcome(StrEnum):
    """What a worker reports of one attempt (``finish.lua`` turns it into a status)."""

    COMPLETE = "complete"
    """It returned."""
    RETRY = "retry"
    """It raised and the retry policy allows another attempt (status ``retrying``)."""
    FAILED = "failed"
    """It raised and no attempt is left (status ``failed``)."""


class EnqueueOutcome(StrEnum):
    """What became of one job at enqueue."""

    DISPATCHED = "dispatched"
    """Its message is (being) published."""
    WAITING = "waiting"
    """It waits for a slot of its queue."""
    SCHEDULED = "scheduled"
    """It waits for its ``startAt``."""
    DUPLICATE = "duplicate"
    """Its id was taken; nothing was written for it."""
    HELD = "held"
    """Held until its transaction commits (the Django app's outbox): nothing is in Redis
    yet."""


class CancelMode(StrEnum):
    """What ``cancel.lua`` does with a job that is running."""

    REQUEST = "request"
    """Not interrupted; marked so that it is not retried (``handle.cancel()``, a revoke)."""
    STOP = "stop"
    """Cancelled now: its worker stopped that attempt (a revoke with terminate)."""
    IDLE = "idle"
    """Left alone: only an action that has not started is cancelled (an expiry)."""


class Stat(StrEnum):
    """Per-minute counters (``P stats:<minute>``), kept for two hours for the dashboard's
    chart; the others are the statuses an action entered in that minute."""

    ENQUEUED = "enqueued"
    RETRYING = "retrying"
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELLED = "cancelled"


class QueueOp(StrEnum):
    """What an operator may do to a named queue (``queue_admin.lua``)."""

    LIMIT = "limit"
    """Set its limit (it then ignores the ``maxConcurrency`` of enqueues)."""
    UNLIMIT = "unlimit"
    """Drop the operator's limit: the latest enqueue's applies again."""
    PAUSE = "pause"
    """Admit nothing more (running actions finish)."""
    RESUME = "resume"
    """Admit again."""


TIMELINE_KEYS = (
    "n",
    "worker",
    "started_at",
    "ended_at",
    "outcome",
    "slot_wait",
    "delay_ms",
    "error",
    "error_type",
    "traceback",
)
"""The fields of one attempt in ``P tl:<id>`` (JSON objects written by the Lua scripts):
its number, worker, start and end (ms), outcome (``retrying``, ``failed``, ``cancelled``
or ``lost``), the ms it waited for a slot, the retry delay that followed, and its error.
A completed attempt is not written there: the record holds it."""

TIMELINE_MAX = 50
"""Attempts kept in a timeline (the last ones)."""

TRACEBACK_LIMIT = 8000
"""Characters of a traceback kept in a timeline (the last ones)."""


SCRIPT_REPLIES = frozenset(
    {
        "ok",
        "stale",
        "forged",
        "missing",
        "running",
        "final",
        "cancelled",
        "ratelimited",
        "duplicate",
        "refused",
        "again",
        "unchanged",
    }
)
"""Tags the Lua scripts put first in a reply (and their helpers return), besides statuses
and outcomes."""
