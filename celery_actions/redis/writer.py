"""Writing new jobs: one ``enqueue.lua`` call, or one MULTI per bulk chunk.

Single enqueues run the script (records, dispatch, the Celery message and sent event on
the Redis broker fast path) in one round trip. Bulk chunks go out with :meth:`send`, their
reply read later (:class:`PendingEnqueue`), and keep big envelopes out of Lua: they are
written beside the script in the same MULTI (see ``lua/enqueue.lua``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..core.protocol import EnqueueOutcome
from ..core.ratelimit import RateLimit
from ..core.settings import Settings
from ..errors import DuplicateActionId
from . import scripts
from .connection import ProcessClient, Sent
from .keys import Keys
from .records import Dispatch, Enqueued, JobSpec, NewJob, OnDuplicate
from .store import nonce

Command = tuple[Any, ...]


def _enqueued(reply: Any, count: int, rate: RateLimit | None) -> Enqueued:
    if reply[0] == "duplicate":
        raise DuplicateActionId(reply[1])
    if reply[0] == "ratelimited":
        assert rate is not None
        raise rate.refuse(count, int(reply[1]))
    outcomes = [EnqueueOutcome(o) for o in reply[1]]
    return Enqueued(outcomes, Dispatch.parse(reply[0], reply[2]))


class PendingEnqueue:
    """An enqueue sent to Redis whose reply has not been read yet."""

    def __init__(
        self,
        sent: Sent | None,  # None: nothing was sent, every job was taken
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

    def result(self) -> Enqueued:
        """Each job's outcome and the messages left to publish; raises like ``enqueue``."""
        if self._sent is None:
            return Enqueued([EnqueueOutcome.DUPLICATE] * self._count, Dispatch())
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
        enqueued = _enqueued(reply, self._count, self._rate)
        for position in self._taken:
            enqueued.outcomes.insert(position, EnqueueOutcome.DUPLICATE)
        return enqueued


class EnqueueWriter:
    """Writes new jobs for one environment (key prefix)."""

    def __init__(self, settings: Settings, client: ProcessClient) -> None:
        self.keys = Keys(settings.key_prefix)
        self._client = client
        self._outbox_ms = settings.ms(settings.outbox_timeout_s)
        self._dispatch_ms = settings.ms(settings.dispatch_timeout_s)
        self._horizon_ms = settings.ms(settings.pump_interval_s)

    def enqueue(
        self,
        jobs: Sequence[NewJob],
        on_duplicate: OnDuplicate,
        rate: RateLimit | None = None,
        sent_event: tuple[str, str] = ("", ""),
    ) -> Enqueued:
        """Write jobs (all or none); returns each job's outcome and the messages to publish.

        ``on_duplicate`` is 'error', 'ignore', or 'new' when the caller guarantees the ids
        are fresh: then the jobs' envelopes are written as plain commands in one MULTI
        transaction with the script, never passed through Lua (see ``enqueue.lua``).
        ``sent_event`` (channel, message) is published in the same call if a job is new.
        Raises DuplicateActionId, or TooManyRequests when ``rate`` refuses them.
        """
        if on_duplicate == "new":
            return self.send(jobs, on_duplicate, rate, sent_event).result()
        keys, args = self._script_args(jobs, on_duplicate, rate, sent_event)
        reply = scripts.run(self._client.get(), "enqueue", keys, args)
        return _enqueued(reply, len(jobs), rate)

    def send(
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
        pool = self._client.get().connection_pool
        if not any(job.envelope for job in jobs):
            keys, args = self._script_args(jobs, on_duplicate, rate, sent_event)
            return PendingEnqueue(Sent(pool, [self._script(keys, args)]), len(jobs), rate)
        if rate is not None:
            raise ValueError("take the rate limit before sending envelopes (take_rate)")
        if on_duplicate == "new":
            commands, after = self.transaction(jobs, sent_event)
            return PendingEnqueue(Sent(pool, commands), len(jobs), after=after)
        return self._send_watched(jobs, on_duplicate, sent_event)

    def _send_watched(
        self, jobs: Sequence[NewJob], on_duplicate: OnDuplicate, sent_event: tuple[str, str]
    ) -> PendingEnqueue:
        """Given ids: WATCH their keys and see which are taken (raise, or leave those out),
        then send the others as fresh jobs. If one is taken meanwhile, EXEC does nothing
        and ``result()`` checks the batch again."""
        job_keys = [self.keys.job(job.id) for job in jobs]
        check = Sent(
            self._client.get().connection_pool,
            [("WATCH", *job_keys), ("EVAL", scripts.source("taken"), len(job_keys), *job_keys)],
        )
        try:
            replies = check.replies(keep=True)
            failed = [r for r in replies if isinstance(r, Exception)]
            if failed:
                raise failed[0]
            taken = self._left_out(jobs, {int(p) - 1 for p in replies[1]})
            if taken and (on_duplicate == "error" or len(taken) == len(jobs)):
                check.more([("UNWATCH",)]).replies()
                if on_duplicate == "error":
                    raise DuplicateActionId(jobs[taken[0]].id)
                return PendingEnqueue.all_taken(len(jobs))
            left_out = set(taken)
            fresh = [job for i, job in enumerate(jobs) if i not in left_out]
            commands, after = self.transaction(fresh, sent_event)
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
    def _left_out(jobs: Sequence[NewJob], taken: set[int]) -> list[int]:
        """Positions left out: taken already, or repeating an id earlier in the batch."""
        seen: set[str] = set()
        for i, job in enumerate(jobs):
            if job.id in seen:
                taken.add(i)
            seen.add(job.id)
        return sorted(taken)

    @staticmethod
    def _script(keys: list[str], args: list[Any]) -> Command:
        # EVAL, not EVALSHA: no NOSCRIPT can split a MULTI, and no retry is needed.
        return ("EVAL", scripts.source("enqueue"), len(keys), *keys, *args)

    def transaction(
        self, jobs: Sequence[NewJob], sent_event: tuple[str, str]
    ) -> tuple[list[Command], int]:
        """MULTI; the envelopes of jobs dispatched later, into their records; the script
        (for fresh ids); the envelopes of jobs dispatched now, pushed in order; EXEC.
        Also returns how many commands follow the script."""
        commands: list[Command] = [("MULTI",)]
        pushed: dict[str, list[str]] = {}
        for job in jobs:
            if not job.envelope:
                continue
            if job.dispatched_now:
                pushed.setdefault(job.spec.list_key, []).append(job.envelope)
            else:
                list_key, job_key = job.spec.list_key, self.keys.job(job.id)
                commands.append(("HSET", job_key, "env_key", list_key, "env", job.envelope))
        commands.append(self._script(*self._script_args(jobs, "new", None, sent_event)))
        commands.extend(("LPUSH", key, *envelopes) for key, envelopes in pushed.items())
        commands.append(("EXEC",))
        return commands, len(pushed)

    def _script_args(
        self,
        jobs: Sequence[NewJob],
        on_duplicate: OnDuplicate,
        rate: RateLimit | None,
        sent_event: tuple[str, str],
    ) -> tuple[list[str], list[Any]]:
        """``enqueue.lua``'s KEYS and ARGV."""
        k = self.keys
        keys = [*k.gate, k.wake, k.ratelimit]
        args: list[Any] = [k.prefix, self._outbox_ms, self._dispatch_ms, on_duplicate]
        args.append(self._horizon_ms)
        args.extend(rate.args(len(jobs)) if rate is not None else ("", "", ""))
        args.extend(sent_event)
        args.append(nonce())
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
            job_args.extend((job.id, job.params_json, number, start, envelope, job.token))
        args.append(len(specs))
        for spec in specs:
            args.extend(spec.args())
        args.extend(job_args)
        return keys, args

    def take_rate(self, rate: RateLimit, n: int) -> None:
        """Take ``n`` from the enqueue bucket, or raise TooManyRequests taking nothing."""
        client = self._client.get()
        wait_ms = int(scripts.run(client, "ratelimit", [self.keys.ratelimit], rate.args(n)))
        if wait_ms > 0:
            raise rate.refuse(n, wait_ms)

    def taken_ids(self, ids: Sequence[str]) -> list[str]:
        """Which of these ids already have a record (one round trip)."""
        if not ids:
            return []
        keys = [self.keys.job(action_id) for action_id in ids]
        positions = scripts.run(self._client.get(), "taken", keys, [])
        return [ids[int(p) - 1] for p in positions]
