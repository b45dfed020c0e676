"""The job lifecycle in Redis: claim, finish, renew, pump, cancel, confirm, and the
re-dispatch of lost messages and abandoned attempts; each one Lua call (see ``lua/``).
Calls that dispatch jobs return a :class:`Dispatch` inside their result;
``celery/dispatcher.py`` publishes it. Each call makes its own random token nonce."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis

from ..core.protocol import TRACEBACK_LIMIT, ActionStatus, CancelMode, Outcome, QueueOp
from ..core.settings import Settings
from . import scripts
from .connection import ProcessClient
from .keys import Keys
from .records import (
    AttemptOutcome,
    Cancelled,
    Claim,
    ClaimRefused,
    Dispatch,
    Finished,
    PumpPass,
    Redispatched,
    Retried,
    Suspect,
    TrimPass,
)


def nonce() -> str:
    """64 random bits, the unguessable part of the tokens one script call hands out."""
    return secrets.token_hex(8)


class Store:
    """Job records and their state changes for one environment (key prefix)."""

    def __init__(self, settings: Settings, client: ProcessClient | None = None) -> None:
        self.settings = settings
        self.keys = Keys(settings.key_prefix)
        self._client = client or ProcessClient(settings.redis_url)
        s = settings
        self._lease_ms = s.ms(s.lease_timeout_s)
        self._outbox_ms = s.ms(s.outbox_timeout_s)
        self._dispatch_ms = s.ms(s.dispatch_timeout_s)
        self._completed_ms = s.ms(s.retention_s(completed=True))
        self._failed_ms = s.ms(s.retention_s(completed=False))
        self._horizon_ms = s.ms(s.pump_interval_s)
        # A gap between pump passes longer than this means no worker could reach Redis.
        self._stall_ms = max(3 * self._horizon_ms, 1000)
        self._worker_ttl_ms = max(3 * self._lease_ms, 60_000)

    def retention_ms(self, completed: bool) -> int:
        """How long a finished record (and its result meta) is kept, in ms."""
        return self._completed_ms if completed else self._failed_ms

    @property
    def client(self) -> redis.Redis:
        """The Redis client of this process."""
        return self._client.get()

    def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return scripts.run(self.client, name, keys, [self.keys.prefix, *args])

    def record(self, action_id: str) -> dict[str, str] | None:
        """The raw job hash (with its ``id``), or None."""
        data: dict[str, str] = self.client.hgetall(self.keys.job(action_id))  # type: ignore[assignment]
        if not data:
            return None
        data["id"] = action_id
        return data

    def confirm(self, dispatch: Dispatch) -> None:
        """The broker has these messages: drop their outbox reservations."""
        if dispatch.rows:
            scripts.run(
                self.client,
                "confirm",
                [self.keys.scheduled],
                [dispatch.reserved, *(r.id for r in dispatch.rows)],
            )

    def cancel(
        self,
        action_id: str,
        reason: str = "",
        mode: CancelMode = CancelMode.REQUEST,
        token: str = "",
    ) -> Cancelled:
        """Cancel a job that has not started; a running one as ``mode`` says (by default
        only kept from retrying; ``STOP`` with the token of an attempt its worker stopped)."""
        reply = self._run(
            "cancel",
            self.keys.gate,
            [action_id, self._failed_ms, self._outbox_ms, self._dispatch_ms, nonce(),
             reason, mode.value, token],
        )  # fmt: skip
        if reply[0] == "cancelled":
            return Cancelled("cancelled", Dispatch.parse(reply[1], reply[2]))
        return Cancelled(reply[0], Dispatch())

    def claim(
        self, action_id: str, token: str, worker: str, task_name: str, claim_id: str
    ) -> Claim | ClaimRefused:
        """Claim a job for running. Refused when the message is stale or forged (its task
        is not the job's action). Repeating a claim with the same ``claim_id`` is safe."""
        reply = self._run("claim", *self.claim_call(action_id, token, worker, task_name, claim_id))
        if reply[0] == "ok":
            return Claim(int(reply[1]), int(reply[2]), int(reply[3]), str(reply[4]), int(reply[5]))
        forged = reply[0] == "forged"
        return ClaimRefused("" if forged else str(reply[1]), forged, str(reply[1]))

    def claim_call(
        self, action_id: str, token: str, worker: str, task_name: str, claim_id: str
    ) -> tuple[list[str], list[Any]]:
        """``claim.lua``'s KEYS and ARGV (after the prefix)."""
        k = self.keys
        args = [action_id, token, self._lease_ms, worker, task_name, claim_id]
        return [k.scheduled, k.leases], args

    def finish(self, action_id: str, token: str, attempt: AttemptOutcome) -> Finished:
        """Record an attempt's outcome, decided by the worker (``core/retry.py``); given a
        ``result``, store the result meta in the same call. Repeating it is safe. A failed
        attempt goes into the action's timeline with its error and traceback."""
        reply = self._run("finish", *self.finish_call(action_id, token, attempt))
        status = None if reply[0] == "stale" else ActionStatus(reply[0])
        due = int(reply[3]) if reply[3] else None
        return Finished(status, Dispatch.parse(reply[1], reply[2]), due, bool(reply[4]))

    def finish_call(
        self, action_id: str, token: str, attempt: AttemptOutcome
    ) -> tuple[list[str], list[Any]]:
        """``finish.lua``'s KEYS and ARGV (after the prefix)."""
        args = [
            action_id,
            token,
            attempt.outcome.value,
            attempt.delay_ms,
            attempt.reason,
            attempt.error,
            attempt.error_type,
            self.retention_ms(attempt.outcome is Outcome.COMPLETE),
            self._outbox_ms,
            self._dispatch_ms,
            self._horizon_ms,
            *(attempt.result or ("", "", 0, "")),
            nonce(),
            attempt.traceback[-TRACEBACK_LIMIT:],
        ]
        return [*self.keys.gate, self.keys.wake], args

    def renew(self, leases: Sequence[tuple[str, str]]) -> list[str]:
        """Extend the leases of running jobs (id, token); returns the ids no longer held."""
        if not leases:
            return []
        args: list[Any] = [self._lease_ms]
        for action_id, token in leases:
            args.extend((action_id, token))
        reply = self._run("renew", [self.keys.leases], args)
        return [str(i) for i in reply[1]]

    def pump(self, batch: int = 500) -> PumpPass:
        """One pass: extend leases over a stall, judge expired leases, make due jobs ready,
        admit freed groups."""
        reply = self._run(
            "pump",
            [*self.keys.gate, self.keys.pulse],
            [batch, self._outbox_ms, self._dispatch_ms, self.settings.max_worker_lost,
             self._failed_ms, nonce(), self._stall_ms],
        )  # fmt: skip
        next_due = int(float(reply[1])) if reply[1] else None
        failed = [str(i) for i in reply[3]]
        suspects = [Suspect(*(str(v) for v in row)) for row in reply[4]]
        return PumpPass(
            Dispatch.parse(reply[0], reply[2]), next_due, failed, suspects, int(reply[5]),
            [str(i) for i in reply[6]], [str(i) for i in reply[7]],
        )  # fmt: skip

    def lost(self, suspects: Sequence[Suspect]) -> Redispatched:
        """Dispatch again the suspects whose message the broker does not have."""
        if not suspects:
            return Redispatched(Dispatch(), [])
        args: list[Any] = [self._outbox_ms, self._dispatch_ms, nonce()]
        for suspect in suspects:
            args.extend((suspect.id, suspect.token))
        reply = self._run("lost", self.keys.gate, args)
        return Redispatched(Dispatch.parse(reply[0], reply[1]), [str(i) for i in reply[2]])

    def abandon(self, attempts: Sequence[tuple[str, str]]) -> Redispatched:
        """Dispatch again attempts (id, token) that a worker's pool stopped running without
        recording an outcome."""
        if not attempts:
            return Redispatched(Dispatch(), [])
        args: list[Any] = [
            self._outbox_ms,
            self._dispatch_ms,
            nonce(),
            self.settings.max_worker_lost,
            self._failed_ms,
        ]
        for action_id, token in attempts:
            args.extend((action_id, token))
        reply = self._run("abandon", self.keys.gate, args)
        return Redispatched(
            Dispatch.parse(reply[0], reply[1]),
            [str(i) for i in reply[3]],
            [str(i) for i in reply[2]],
            [str(i) for i in reply[4]],
        )

    def retry_now(self, action_ids: Sequence[str]) -> list[Retried]:
        """An operator's "retry now" of each action (one pipelined round trip): a scheduled
        or retrying one is made ready at once; a failed or cancelled one runs again."""
        replies = self._each("retry_now", action_ids, lambda i: [i, self._outbox_ms,
                             self._dispatch_ms, nonce()])  # fmt: skip
        return [
            Retried("retried", Dispatch.parse(r[1], r[2]))
            if r[0] == "ok"
            else Retried("unchanged" if r[0] == "unchanged" else "missing", Dispatch())
            for r in replies
        ]

    def cancel_many(self, action_ids: Sequence[str]) -> list[Cancelled]:
        """:meth:`cancel` of each action, in one pipelined round trip."""
        replies = self._each("cancel", action_ids, lambda i: [i, self._failed_ms,
                             self._outbox_ms, self._dispatch_ms, nonce(), "cancelled",
                             CancelMode.REQUEST.value, ""])  # fmt: skip
        return [
            Cancelled("cancelled", Dispatch.parse(r[1], r[2]))
            if r[0] == "cancelled"
            else Cancelled(r[0], Dispatch())
            for r in replies
        ]

    def _each(
        self, name: str, action_ids: Sequence[str], args: Callable[[str], list[Any]]
    ) -> list[Any]:
        """Run a gate script once per id, pipelined (loading it first if need be)."""
        if not action_ids:
            return []
        client = self.client
        if not client.script_exists(scripts.sha(name))[0]:
            client.script_load(scripts.source(name))
        pipe = client.pipeline(transaction=False)
        for action_id in action_ids:
            keys = self.keys.gate
            pipe.evalsha(scripts.sha(name), len(keys), *keys, self.keys.prefix, *args(action_id))
        return list(pipe.execute())

    def queue_admin(self, group: str, op: QueueOp, limit: int = 0) -> Dispatch:
        """An operator's change to a named queue (see ``lua/queue_admin.lua``); returns
        what the waiting actions admitted by it dispatched."""
        reply = self._run(
            "queue_admin",
            self.keys.gate,
            [group, op.value, limit, self._outbox_ms, self._dispatch_ms, nonce()],
        )
        return Dispatch.parse(reply[1], reply[2])

    def trim(self, cursors: tuple[int, int], budget: int = 5000, names: int = 200) -> TrimPass:
        """Drop index entries of expired records (bounded); returns how many, and the
        cursors of the next call over the action and group names."""
        reply = self._run(
            "trim",
            [],
            [self._completed_ms, self._failed_ms, budget, names, cursors[0], cursors[1]],
        )
        return TrimPass(int(reply[0]), (int(reply[1]), int(reply[2])))

    def heartbeat(self, worker: str) -> None:
        """Record a worker as alive, and forget workers silent for long (dead)."""
        now_ms = int(time.time() * 1000)
        pipe = self.client.pipeline(transaction=False)
        pipe.zadd(self.keys.workers, {worker: now_ms})
        pipe.zremrangebyscore(self.keys.workers, "-inf", now_ms - self._worker_ttl_ms)
        pipe.execute()

    def forget_worker(self, worker: str) -> None:
        """A worker stopped."""
        self.client.zrem(self.keys.workers, worker)
