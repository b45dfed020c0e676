"""Every Redis key celery-actions uses, in one place.

Layout (``P`` is ``actions_key_prefix``, default ``"actions:"``)::

    P job:<id>               hash   one action's record (fields: core/protocol.py Field)
                                    no TTL while live; once finished, compacted and kept
                                    ``actions_retention_completed`` or ``_failed``
    P tl:<id>                list   the attempts of an action that did not complete (JSON,
                                    core/protocol.py TIMELINE_KEYS); TTL as its record
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
    P ratelimit:<identity>   hash   a browser identity's enqueue leaky bucket
    P queue_overrides        hash   group name -> the limit an operator set (it wins over
                                    the enqueues' maxConcurrency)
    P queue_paused           hash   group name -> when an operator paused it (ms)
    P ix:<status>            zset   id -> when it entered the status (ms): every action
    P ix:<status>:a:<action> zset   the same, per action name
    P ix:<status>:q:<name>   zset   the same, per group (actions that have one)
    P ix:actions             zset   action name -> last enqueue (ms), while indexed
    P ix:queues              zset   group name -> last enqueue (ms), while indexed
    P stats:<minute>         hash   counts of the minute (epoch ms // 60000): enqueued,
                                    retrying, complete, failed, cancelled; TTL two hours
    P ev:<id>                channel  the status of a browser-enqueued action, published
                                    at each change (a Pub/Sub channel, not a key)

The ``ix:`` sorted sets are the indexes the dashboard lists, filters and counts with: the
Lua scripts that change a status move the action between them, and finished entries are
trimmed by every worker's pump once their records' retention has passed (never a SCAN).

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

    def timeline(self, action_id: str) -> str:
        """The list of an action's attempts that did not complete."""
        return f"{self.prefix}tl:{action_id}"

    def ratelimit_of(self, identity: str) -> str:
        """Hash of one browser identity's enqueue leaky bucket."""
        return f"{self.prefix}ratelimit:{identity}"

    @property
    def group_overrides(self) -> str:
        """Hash of the limits operators set, by group name."""
        return f"{self.prefix}queue_overrides"

    @property
    def group_paused(self) -> str:
        """Hash of the groups operators paused (name -> ms)."""
        return f"{self.prefix}queue_paused"

    def status_index(self, status: str) -> str:
        """Sorted set of the ids of one status, by when they entered it (ms)."""
        return f"{self.prefix}ix:{status}"

    def action_index(self, status: str, action: str) -> str:
        """Sorted set of the ids of one status and action."""
        return f"{self.prefix}ix:{status}:a:{action}"

    def group_index(self, status: str, group: str) -> str:
        """Sorted set of the ids of one status and group."""
        return f"{self.prefix}ix:{status}:q:{group}"

    @property
    def indexed_actions(self) -> str:
        """Sorted set of the action names with indexed records, by last enqueue (ms)."""
        return f"{self.prefix}ix:actions"

    @property
    def indexed_groups(self) -> str:
        """Sorted set of the group names with indexed records, by last enqueue (ms)."""
        return f"{self.prefix}ix:queues"

    def stats(self, minute: int) -> str:
        """Hash of one minute's counters (``minute`` is epoch ms // 60000)."""
        return f"{self.prefix}stats:{minute}"

    def events(self, action_id: str) -> str:
        """The Pub/Sub channel of a browser-enqueued action's status changes."""
        return f"{self.prefix}ev:{action_id}"

    @property
    def gate(self) -> list[str]:
        """The keys every gate-changing script takes first, in order: scheduled, leases,
        groups, group limits, seq."""
        return [self.scheduled, self.leases, self.groups, self.group_limits, self.seq]
