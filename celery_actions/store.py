"""Job records and every state change of a job, each one Lua call (see ``lua/``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import hiredis
import redis

from . import scripts
from .errors import DuplicateActionId
from .keys import Keys
from .ratelimit import RateLimit
from .settings import Settings

OnDuplicate = Literal["error", "ignore", "new"]
"""What enqueue does with a taken id: raise, skip the job, or never look ('new': the caller
guarantees fresh ids, so envelopes can be written beside the script)."""


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What the jobs of one enqueue share: the action and its resolved options."""

    action: str
    options_json: str
    priority: str
    queue: str = ""
    limit: int = 1
    celery_queue: str = ""
    list_key: str = ""
    """The Redis broker list the jobs' envelopes go to ('': publish through kombu)."""

    def args(self) -> tuple[Any, ...]:
        """The spec as ``enqueue.lua`` takes it."""
        return (
            self.action,
            self.options_json,
            self.priority,
            self.queue,
            self.limit,
            self.celery_queue,
            self.list_key,
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

    @property
    def dispatched_now(self) -> bool:
        """Pushed to the broker at once: no queue limit, no startAt, a broker list."""
        spec = self.spec
        return not spec.queue and self.start_at_ms is None and bool(spec.list_key)


class _Lease:
    """A pooled connection, given back once (dropped if replies may be left unread)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.connection: Any = pool.get_connection()  # untyped in redis-py
        self._back = False

    def release(self, drop: bool = False) -> None:
        if self._back:
            return
        self._back = True
        if drop:
            self.connection.disconnect()
        self.pool.release(self.connection)


class _Sent:
    """Commands sent on a pooled connection now, their replies read later (in order).

    An error reply is returned in place, as an exception, like a pipeline's. Any failure
    drops the connection.
    """

    def __init__(
        self, pool: Any, commands: list[tuple[Any, ...]], lease: _Lease | None = None
    ) -> None:
        self._lease = lease or _Lease(pool)
        self._count = len(commands)
        try:
            # hiredis directly: redis-py's packer inspects every argument in Python first.
            packed = [hiredis.pack_command(c) for c in commands]
            self._lease.connection.send_packed_command(packed)
        except BaseException:
            self.drop()
            raise

    def replies(self, keep: bool = False) -> list[Any]:
        """Read every reply; give the connection back unless ``keep`` (to send more)."""
        replies: list[Any] = []
        try:
            for _ in range(self._count):
                try:
                    replies.append(self._lease.connection.read_response())
                except redis.ResponseError as exc:
                    replies.append(exc)
        except BaseException:
            self.drop()
            raise
        if not keep:
            self._lease.release()
        return replies

    def more(self, commands: list[tuple[Any, ...]]) -> _Sent:
        """Send more commands on this connection (after ``replies(keep=True)``)."""
        return _Sent(self._lease.pool, commands, self._lease)

    def drop(self) -> None:
        """Close the connection and give it back (once)."""
        self._lease.release(drop=True)


def _enqueue_outcome(reply: Any, count: int, rate: RateLimit | None) -> tuple[list[str], Dispatch]:
    if reply[0] == "duplicate":
        raise DuplicateActionId(reply[1])
    if reply[0] == "ratelimited":
        assert rate is not None
        raise rate.refuse(count, int(reply[1]))
    return list(reply[1]), Dispatch.parse(reply[0], reply[2])


class PendingEnqueue:
    """An enqueue sent to Redis whose reply has not been read yet."""

    def __init__(
        self,
        sent: _Sent | None,  # None: nothing was sent, every job was taken
        count: int,
        rate: RateLimit | None = None,
        after: int = -1,
        taken: Sequence[int] = (),
        again: Callable[[], PendingEnqueue] | None = None,
    ) -> None:
        self._sent = sent
        self._count = count  # jobs the script was given
        self._rate = rate
        self._after = after  # -1: a lone script; else a MULTI with this many commands after it
        self._taken = taken  # positions of jobs left out as duplicates (ascending)
        self._again = again  # sends it again if a WATCHed key changed

    @classmethod
    def all_taken(cls, count: int) -> PendingEnqueue:
        """An enqueue with nothing to write: all ``count`` jobs are duplicates."""
        return cls(None, count)

    def result(self) -> tuple[list[str], Dispatch]:
        """Each job's outcome and the messages left to publish; raises like ``enqueue``."""
        if self._sent is None:
            return ["duplicate"] * self._count, Dispatch()
        replies = self._sent.replies()
        if self._after >= 0:  # MULTI: OK, QUEUED..., then EXEC's replies (or EXECABORT)
            refused = [r for r in replies if isinstance(r, Exception)]
            if refused:
                raise refused[0]
            if replies[-1] is None and self._again is not None:
                return self._again().result()  # a watched id was taken meanwhile: check again
            replies = replies[-1]
        failed = [r for r in replies if isinstance(r, Exception)]
        if failed:
            raise failed[0]
        reply = replies[-1 - self._after] if self._after >= 0 else replies[0]
        outcomes, dispatch = _enqueue_outcome(reply, self._count, self._rate)
        for position in self._taken:
            outcomes.insert(position, "duplicate")
        return outcomes, dispatch


@dataclass(frozen=True, slots=True)
class MessageRow:
    """What a publisher needs to send one job's message."""

    id: str
    token: str
    action: str
    params_json: str
    priority: str
    celery_queue: str


@dataclass(slots=True)
class Dispatch:
    """Messages to publish, and the outbox reservation to confirm once the broker has them."""

    reserved: int = 0
    rows: list[MessageRow] = field(default_factory=list)

    @classmethod
    def parse(cls, reserved: Any, rows: Iterable[Sequence[Any]]) -> Dispatch:
        """Build from a script reply."""
        return cls(int(reserved), [MessageRow(*(str(v) for v in r)) for r in rows])


@dataclass(frozen=True, slots=True)
class Claim:
    """A job a worker may run now."""

    failures: int
    first_started_ms: int
    options_json: str


@dataclass(frozen=True, slots=True)
class PumpPass:
    """What one pump pass found."""

    dispatch: Dispatch
    next_due_ms: int | None
    failed: list[str]


class Store:
    """Talks to Redis for one environment (key prefix)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = Keys(settings.key_prefix)
        self._client: redis.Redis | None = None
        self._pid = 0
        s = settings
        self._outbox_ms = s.ms(s.outbox_timeout_s)
        self._slot_ms = s.ms(s.dispatch_timeout_s)
        self._retention_ms = s.ms(s.retention_s)
        self._horizon_ms = s.ms(s.pump_interval_s)

    @property
    def client(self) -> redis.Redis:
        """A client for this process (a forked worker child gets its own)."""
        if self._client is None or self._pid != os.getpid():
            self._client = redis.Redis.from_url(
                self.settings.redis_url, decode_responses=True, health_check_interval=30
            )
            self._pid = os.getpid()
        return self._client

    def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return scripts.run(self.client, name, keys, [self.keys.prefix, *args])

    # -- producers ---------------------------------------------------------------------

    def enqueue(
        self,
        jobs: Sequence[NewJob],
        on_duplicate: OnDuplicate,
        rate: RateLimit | None = None,
        sent_event: tuple[str, str] = ("", ""),
    ) -> tuple[list[str], Dispatch]:
        """Write jobs (all or none); returns each job's outcome and the messages to publish.

        ``on_duplicate`` is 'error', 'ignore', or 'new' when the caller guarantees the ids
        are fresh: then the jobs' envelopes are written as plain commands in one MULTI
        transaction with the script, never passed through Lua (see ``enqueue.lua``).
        ``sent_event`` (channel, message) is published in the same call if a job is new.
        Raises DuplicateActionId, or TooManyRequests when ``rate`` refuses them.
        """
        if on_duplicate == "new":
            return self.send_enqueue(jobs, on_duplicate, rate, sent_event).result()
        keys, args = self._enqueue_args(jobs, on_duplicate, rate, sent_event)
        return _enqueue_outcome(scripts.run(self.client, "enqueue", keys, args), len(jobs), rate)

    def send_enqueue(
        self,
        jobs: Sequence[NewJob],
        on_duplicate: OnDuplicate,
        rate: RateLimit | None = None,
        sent_event: tuple[str, str] = ("", ""),
    ) -> PendingEnqueue:
        """:meth:`enqueue`, sent now on a connection of its own; its ``result()`` reads
        the reply, so the caller can prepare the next batch while Redis writes this one.

        Envelopes never pass through Lua here: they are written beside the script in one
        MULTI (see ``enqueue.lua``), after checking given ids under WATCH. A script cannot
        stop the commands after it in a MULTI, so take the rate limit first
        (:meth:`take_rate`) when the jobs have envelopes.
        """
        pool = self.client.connection_pool
        if not any(job.envelope for job in jobs):
            keys, args = self._enqueue_args(jobs, on_duplicate, rate, sent_event)
            return PendingEnqueue(_Sent(pool, [self._script(keys, args)]), len(jobs), rate)
        if rate is not None:
            raise ValueError("take the rate limit before sending envelopes (take_rate)")
        if on_duplicate == "new":
            commands, after = self._transaction(jobs, sent_event)
            return PendingEnqueue(_Sent(pool, commands), len(jobs), after=after)
        return self._send_watched(jobs, on_duplicate, sent_event)

    def _send_watched(
        self, jobs: Sequence[NewJob], on_duplicate: OnDuplicate, sent_event: tuple[str, str]
    ) -> PendingEnqueue:
        """Given ids: WATCH their keys and see which are taken (raise, or leave those out),
        then send the others as fresh jobs. If one is taken meanwhile, EXEC does nothing
        and ``result()`` checks the batch again."""
        job_keys = [self.keys.job(job.id) for job in jobs]
        check = _Sent(
            self.client.connection_pool,
            [("WATCH", *job_keys), ("EVAL", scripts.source("taken"), len(job_keys), *job_keys)],
        )
        try:
            replies = check.replies(keep=True)
            failed = [r for r in replies if isinstance(r, Exception)]
            if failed:
                raise failed[0]
            # left out: taken already, or repeating an id earlier in the batch
            left_out = {int(p) - 1 for p in replies[1]}
            seen: set[str] = set()
            for i, job in enumerate(jobs):
                if job.id in seen:
                    left_out.add(i)
                seen.add(job.id)
            taken = sorted(left_out)
            if taken and (on_duplicate == "error" or len(taken) == len(jobs)):
                check.more([("UNWATCH",)]).replies()
                if on_duplicate == "error":
                    raise DuplicateActionId(jobs[taken[0]].id)
                return PendingEnqueue.all_taken(len(jobs))
            fresh = [job for i, job in enumerate(jobs) if i not in left_out]
            commands, after = self._transaction(fresh, sent_event)
            sent = check.more(commands)
        except BaseException:
            check.drop()  # no-op if given back already; else WATCH may still be set
            raise
        return PendingEnqueue(
            sent,
            len(fresh),
            after=after,
            taken=taken,
            again=lambda: self._send_watched(jobs, on_duplicate, sent_event),
        )

    @staticmethod
    def _script(keys: list[str], args: list[Any]) -> tuple[Any, ...]:
        # EVAL, not EVALSHA: no NOSCRIPT can split a MULTI, and no retry is needed.
        return ("EVAL", scripts.source("enqueue"), len(keys), *keys, *args)

    def _transaction(
        self, jobs: Sequence[NewJob], sent_event: tuple[str, str]
    ) -> tuple[list[tuple[Any, ...]], int]:
        """MULTI; the envelopes of jobs dispatched later, into their records; the script
        (for fresh ids); the envelopes of jobs dispatched now, pushed in order; EXEC.
        Also returns how many commands follow the script."""
        commands: list[tuple[Any, ...]] = [("MULTI",)]
        pushed: dict[str, list[str]] = {}
        for job in jobs:
            if not job.envelope:
                continue
            if job.dispatched_now:
                pushed.setdefault(job.spec.list_key, []).append(job.envelope)
            else:
                list_key, job_key = job.spec.list_key, self.keys.job(job.id)
                commands.append(("HSET", job_key, "env_key", list_key, "env", job.envelope))
        commands.append(self._script(*self._enqueue_args(jobs, "new", None, sent_event)))
        commands.extend(("LPUSH", key, *envelopes) for key, envelopes in pushed.items())
        commands.append(("EXEC",))
        return commands, len(pushed)

    def _enqueue_args(
        self,
        jobs: Sequence[NewJob],
        on_duplicate: OnDuplicate,
        rate: RateLimit | None,
        sent_event: tuple[str, str],
    ) -> tuple[list[str], list[Any]]:
        """``enqueue.lua``'s KEYS and ARGV (ARGV[1], the key prefix, included)."""
        k = self.keys
        keys = [k.scheduled, k.leases, k.queues, k.seq, k.wake, k.ratelimit]
        args: list[Any] = [k.prefix, self._outbox_ms, self._slot_ms, on_duplicate]
        args.append(self._horizon_ms)
        args.extend(rate.args(len(jobs)) if rate is not None else ("", "", ""))
        args.extend(sent_event)
        specs: dict[JobSpec, int] = {}
        job_args: list[Any] = []
        keep_envelopes = on_duplicate != "new"
        last_spec, number = None, 0
        for job in jobs:
            if job.spec is not last_spec:
                last_spec = job.spec
                number = specs.setdefault(job.spec, len(specs) + 1)
            start = "" if job.start_at_ms is None else job.start_at_ms
            envelope = job.envelope if keep_envelopes else ""
            job_args.extend((job.id, job.params_json, number, start, envelope))
        args.append(len(specs))
        for spec in specs:
            args.extend(spec.args())
        args.extend(job_args)
        return keys, args

    def take_rate(self, rate: RateLimit, n: int) -> None:
        """Take ``n`` from the enqueue bucket, or raise TooManyRequests taking nothing."""
        wait_ms = int(scripts.run(self.client, "ratelimit", [self.keys.ratelimit], rate.args(n)))
        if wait_ms > 0:
            raise rate.refuse(n, wait_ms)

    def taken_ids(self, ids: Sequence[str]) -> list[str]:
        """Which of these ids already have a record (one round trip)."""
        if not ids:
            return []
        keys = [self.keys.job(action_id) for action_id in ids]
        positions = scripts.run(self.client, "taken", keys, [])
        return [ids[int(p) - 1] for p in positions]

    def confirm(self, dispatch: Dispatch) -> None:
        """The broker has these messages: drop their outbox reservations."""
        if dispatch.rows:
            scripts.run(
                self.client,
                "confirm",
                [self.keys.scheduled],
                [dispatch.reserved, *(r.id for r in dispatch.rows)],
            )

    def record(self, action_id: str) -> dict[str, str] | None:
        """The raw job hash, or None."""
        data: dict[str, str] = self.client.hgetall(self.keys.job(action_id))  # type: ignore[assignment]
        if not data:
            return None
        data["id"] = action_id
        return data

    def cancel(self, action_id: str) -> tuple[str, Dispatch]:
        """Cancel a job that has not started.

        Returns the outcome ('cancelled', 'running', 'final' or 'missing') and the
        messages to publish (waiting jobs admitted into a freed queue slot).
        """
        k = self.keys
        reply = self._run(
            "cancel",
            [k.scheduled, k.leases, k.queues],
            [action_id, self._retention_ms, self._outbox_ms, self._slot_ms],
        )
        if reply[0] == "cancelled":
            return "cancelled", Dispatch.parse(reply[1], reply[2])
        return str(reply[0]), Dispatch()

    # -- workers -----------------------------------------------------------------------

    def claim(self, action_id: str, token: str, worker: str) -> Claim | None:
        """Claim a job for running; None when the message is stale."""
        k = self.keys
        reply = self._run(
            "claim",
            [k.scheduled, k.leases],
            [action_id, token, self.settings.ms(self.settings.lease_timeout_s), worker],
        )
        if reply[0] != "ok":
            return None
        return Claim(int(reply[2]), int(reply[3]), str(reply[4]))

    def finish(
        self,
        action_id: str,
        token: str,
        outcome: str,
        *,
        delay_ms: int = 0,
        deadline_ms: int = 0,
        error: str = "",
        error_type: str = "",
        retry_count: int = 0,
        result: tuple[str, Any, int, str] | None = None,
    ) -> tuple[str, Dispatch, int | None, bool]:
        """Record an attempt's outcome (and, given ``result`` = key, meta, expiry ms and the
        status it is for, store the result meta in the same call).

        Returns the status written, what to publish, the retry due time, and whether the
        result meta was stored.
        """
        k = self.keys
        reply = self._run(
            "finish",
            [k.scheduled, k.leases, k.queues, k.wake],
            [
                action_id,
                token,
                outcome,
                delay_ms,
                deadline_ms,
                error,
                error_type,
                self._retention_ms,
                self._outbox_ms,
                self._slot_ms,
                self._horizon_ms,
                retry_count,
                *(result or ("", "", 0, "")),
            ],
        )
        due = int(reply[3]) if reply[3] else None
        return str(reply[0]), Dispatch.parse(reply[1], reply[2]), due, bool(reply[4])

    def renew(self, leases: Sequence[tuple[str, str]]) -> tuple[int, list[str]]:
        """Extend the leases of running jobs; returns the count and the ids no longer held."""
        if not leases:
            return 0, []
        args: list[Any] = [self.settings.ms(self.settings.lease_timeout_s)]
        for action_id, token in leases:
            args.extend((action_id, token))
        reply = self._run("renew", [self.keys.leases], args)
        return int(reply[0]), [str(i) for i in reply[1]]

    def pump(self, batch: int = 500) -> PumpPass:
        """One pass: reclaim expired leases, make due jobs ready, admit freed queues."""
        k = self.keys
        s = self.settings
        reply = self._run(
            "pump",
            [k.scheduled, k.leases, k.queues, k.seq],
            [batch, self._outbox_ms, self._slot_ms, s.max_worker_lost, self._retention_ms],
        )
        next_due = int(float(reply[1])) if reply[1] else None
        return PumpPass(Dispatch.parse(reply[0], reply[2]), next_due, [str(i) for i in reply[3]])
