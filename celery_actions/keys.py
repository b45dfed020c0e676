"""Every Redis key celery-actions uses, in one place.

Layout (``P`` is ``actions_key_prefix``, default ``"actions:"``)::

    P job:<id>               hash   one action: status, params, options, attempts, token, ...
                                    no TTL while live; ``actions_retention`` once finished
    P scheduled              zset   id -> due time (ms). startAt, retry delays, re-dispatches,
                                    and the publish outbox (a reservation until the broker
                                    has the message)
    P leases                 zset   id -> lease expiry (ms) of every running action
    P q:<name>:slots         zset   id -> slot expiry (ms); the holders of a queue's slots
    P q:<name>:waiting       zset   id -> priority band * 2^44 + arrival sequence
    P queues                 zset   name -> last activity (ms) of queues with holders/waiters
    P seq                    string arrival counter for the waiting sets
    P wake                   list   a token that wakes a sleeping pump early
    P workers                zset   worker name -> last heartbeat (ms)
    P ratelimit              hash   the enqueue leaky bucket: level, last update

The Lua scripts build the same names from the prefix (``lua/_lib.lua``); a test pins that
both agree. Keys are not cluster-safe (scripts touch keys derived from ids): use a
standalone or Sentinel Redis.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "actions:"


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
        """Sorted set of running ids by lease expiry in ms."""
        return f"{self.prefix}leases"

    def queue_slots(self, name: str) -> str:
        """Sorted set of a named queue's slot holders by slot expiry in ms."""
        return f"{self.prefix}q:{name}:slots"

    def queue_waiting(self, name: str) -> str:
        """Sorted set of ids waiting for a slot, by priority band then arrival."""
        return f"{self.prefix}q:{name}:waiting"

    @property
    def queues(self) -> str:
        """Sorted set of active queue names by last activity in ms."""
        return f"{self.prefix}queues"

    @property
    def seq(self) -> str:
        """Arrival counter for the waiting sets."""
        return f"{self.prefix}seq"

    @property
    def wake(self) -> str:
        """List a producer pushes to, to wake a sleeping pump early."""
        return f"{self.prefix}wake"

    @property
    def workers(self) -> str:
        """Sorted set of worker names by last heartbeat in ms."""
        return f"{self.prefix}workers"

    @property
    def ratelimit(self) -> str:
        """Hash of the enqueue leaky bucket."""
        return f"{self.prefix}ratelimit"
