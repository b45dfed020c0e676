"""Every Redis key celery-actions uses, in one place.

Layout (``P`` is ``actions_key_prefix``, default ``"actions:"``)::

    P job:<id>               hash   one action's record (fields: core/protocol.py Field)
                                    no TTL while live; ``actions_retention`` once finished
    P scheduled              zset   id -> due time (ms). startAt, retry delays, re-dispatches,
                                    and the publish outbox (a reservation until the broker
                                    has the message)
    P leases                 zset   id -> lease expiry (ms): running actions, and dispatched
                                    actions not claimed yet (then the pump looks for their
                                    message in the broker)
    P q:<name>:slots         zset   id -> slot expiry (ms); the holders of a group's slots
    P q:<name>:waiting       zset   id -> priority band * 2^44 + arrival sequence
    P queues                 zset   group name -> last activity (ms), while it has holders
                                    or waiters
    P queue_limits           hash   group name -> maxConcurrency of the latest enqueue,
                                    while the group is active
    P seq                    string arrival counter for the waiting sets
    P wake                   list   a token that wakes a sleeping pump early
    P pulse                  string the server time (ms) of the last pump pass: a longer
                                    gap (Redis stalled or down) is added to every lease
    P workers                zset   worker name -> last heartbeat (ms)
    P ratelimit              hash   the enqueue leaky bucket: level, last update
    P dj:attempts:<id>       list   the django.tasks backend's attempt history of an action
                                    (kept as long as its record)
    P announce               list   events for Flower that a worker's pump sends on behalf
                                    of a producer (a cancel made outside any worker)

A "group" is a concurrency group: Gadget's ``queue`` option (a name and a limit), not a
Celery queue. The Lua scripts build the same names from the prefix (``lua/_lib.lua``); a
test pins that both agree. Keys are not cluster-safe (scripts touch keys derived from
ids): use a standalone or Sentinel Redis.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.settings import DEFAULT_PREFIX

__all__ = ["DEFAULT_PREFIX", "Keys"]


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names for one key prefix."""

    prefix: str = DEFAULT_PREFIX

    def job(self, action_id: str) -> str:
        """The hash holding one action's record."""
        return f"{self.prefix}job:{action_id}"

    @property
    def job_pattern(self) -> str:
        """A SCAN pattern matching every job record."""
        return f"{self.prefix}job:*"

    @property
    def scheduled(self) -> str:
        """Sorted set of ids by due time in ms."""
        return f"{self.prefix}scheduled"

    @property
    def leases(self) -> str:
        """Sorted set of lease holders (running, or dispatched) by expiry in ms."""
        return f"{self.prefix}leases"

    def group_slots(self, name: str) -> str:
        """Sorted set of a group's slot holders by slot expiry in ms."""
        return f"{self.prefix}q:{name}:slots"

    def group_waiting(self, name: str) -> str:
        """Sorted set of ids waiting for a slot of a group, by priority band then arrival."""
        return f"{self.prefix}q:{name}:waiting"

    @property
    def groups(self) -> str:
        """Sorted set of active group names by last activity in ms."""
        return f"{self.prefix}queues"

    @property
    def group_limits(self) -> str:
        """Hash of each active group's limit."""
        return f"{self.prefix}queue_limits"

    @property
    def seq(self) -> str:
        """Arrival counter for the waiting sets."""
        return f"{self.prefix}seq"

    @property
    def wake(self) -> str:
        """List a producer pushes to, to wake a sleeping pump early."""
        return f"{self.prefix}wake"

    @property
    def pulse(self) -> str:
        """The server time of the last pump pass."""
        return f"{self.prefix}pulse"

    @property
    def workers(self) -> str:
        """Sorted set of worker names by last heartbeat in ms."""
        return f"{self.prefix}workers"

    @property
    def ratelimit(self) -> str:
        """Hash of the enqueue leaky bucket."""
        return f"{self.prefix}ratelimit"

    def task_attempts(self, action_id: str) -> str:
        """The django.tasks backend's attempt history of one action."""
        return f"{self.prefix}dj:attempts:{action_id}"

    @property
    def announce(self) -> str:
        """List of events (JSON) a worker's pump sends for producers."""
        return f"{self.prefix}announce"

    @property
    def gate(self) -> list[str]:
        """The keys every gate-changing script takes first, in order: scheduled, leases,
        groups, group limits, seq."""
        return [self.scheduled, self.leases, self.groups, self.group_limits, self.seq]
