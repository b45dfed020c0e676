"""Listing, filtering and counting actions through the indexes the Lua scripts keep.

Every action is in ``P ix:<status>``, ``P ix:<status>:a:<action>`` and, with a named
queue, ``P ix:<status>:q:<queue>``, scored by when it entered its status (see
``lua/_lib.lua``). A filter picks one of these sets per status it covers, so:

- a count is one ``ZCOUNT`` per status (O(log n) each), all in one round trip;
- a page is the newest entries of each set before a cursor (O(log n + page) each), merged,
  then the page's records: two round trips, whatever the number of records.

Paging is by cursor (the last row's time and id), newest first, as large logs are paged:
an offset would cost as many steps as it skips. The one filter no set answers alone,
an action *and* a queue, reads the queue's sets and checks each record's action, looking
at most ``SCAN_BUDGET`` entries per page or count (a count that stops there says so).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ..core.protocol import ActionStatus, Field, Stat
from .store import Store

PAGE_SIZE = 50
SCAN_BUDGET = 20_000
"""Entries looked at for one page or count of an action-and-queue filter."""
TIES_LIMIT = 10_000
"""Entries of one millisecond a cursor can step over in one set (a bulk chunk's are one
millisecond: at most 1,000)."""
STATUSES = tuple(ActionStatus)

Entry = tuple[float, str]
"""(score, id) in an index: when the action entered its status (ms), its id."""


@dataclass(frozen=True, slots=True)
class ActionFilter:
    """Which actions to list or count. Empty fields match everything."""

    statuses: tuple[ActionStatus, ...] = ()
    action: str = ""
    queue: str = ""
    since_ms: int | None = None
    """Entered its status at or after this time (ms)."""
    until_ms: int | None = None
    """Entered its status at or before this time (ms)."""

    @property
    def covered(self) -> tuple[ActionStatus, ...]:
        """The statuses this filter looks at."""
        return self.statuses or STATUSES

    @property
    def bounds(self) -> tuple[str, str]:
        """ZRANGEBYSCORE's (max, min) for the time filter."""
        high = "+inf" if self.until_ms is None else str(self.until_ms)
        low = "-inf" if self.since_ms is None else str(self.since_ms)
        return high, low

    @property
    def scans(self) -> bool:
        """True when the action must be checked on each record (action and queue)."""
        return bool(self.action and self.queue)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ended: the next page holds what is older than this entry."""

    score: int
    id: str

    def encode(self) -> str:
        """As a URL parameter."""
        return f"{self.score}.{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor | None:
        """From a URL parameter; None when it is not one."""
        score, _, action_id = text.partition(".")
        if not score.isdigit() or not action_id:
            return None
        return cls(int(score), action_id)


@dataclass(frozen=True, slots=True)
class Row:
    """One action of a page: its raw record (with ``id``) and when it entered its status."""

    record: dict[str, str]
    entered_ms: int


@dataclass(frozen=True, slots=True)
class Page:
    """A page of actions, newest first, and the cursor of the next (older) page."""

    rows: list[Row]
    next: Cursor | None
    scanned: int = 0
    """Entries looked at, for an action-and-queue filter (else 0)."""


@dataclass(frozen=True, slots=True)
class Count:
    """How many actions a filter matches; ``exact`` is False when a scan stopped early
    (then there are at least ``value``)."""

    value: int
    exact: bool = True


@dataclass(frozen=True, slots=True)
class Minute:
    """The counters of one minute (``Stat``)."""

    start_ms: int
    counts: dict[str, int] = field(default_factory=dict)

    def get(self, stat: Stat) -> int:
        """One counter (0 when nothing happened)."""
        return self.counts.get(stat.value, 0)


class ActionIndex:
    """Reads the indexes of one environment (key prefix)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.keys = store.keys

    def sets(self, f: ActionFilter) -> list[str]:
        """The index holding the filter's actions, one per status it covers (for an
        action-and-queue filter: the queue's, whose records are checked for the action)."""
        k = self.keys
        if f.queue:
            return [k.group_index(s, f.queue) for s in f.covered]
        if f.action:
            return [k.action_index(s, f.action) for s in f.covered]
        return [k.status_index(s) for s in f.covered]

    # -- counts ------------------------------------------------------------------------

    def status_counts(self) -> dict[ActionStatus, int]:
        """How many actions have each status (one round trip)."""
        pipe = self.store.client.pipeline(transaction=False)
        for status in STATUSES:
            pipe.zcard(self.keys.status_index(status))
        return dict(zip(STATUSES, (int(n) for n in pipe.execute()), strict=True))

    def count(self, f: ActionFilter) -> Count:
        """How many actions match (one round trip, unless the filter scans)."""
        if f.scans:
            return self._scan_count(f)
        high, low = f.bounds
        pipe = self.store.client.pipeline(transaction=False)
        for key in self.sets(f):
            pipe.zcount(key, low, high)
        return Count(sum(int(n) for n in pipe.execute()))

    def counts_by_status(self, f: ActionFilter) -> dict[ActionStatus, Count]:
        """:meth:`count` of each status the filter covers."""
        return {s: self.count(_with_status(f, s)) for s in f.covered}

    def _scan_count(self, f: ActionFilter) -> Count:
        matched = scanned = 0
        cursor: Cursor | None = None
        while True:
            batch, cursor = self._candidates(f, cursor, 1000)
            scanned += len(batch)
            matched += sum(1 for _ in self._matching(f, batch))
            if cursor is None:
                return Count(matched)
            if scanned >= SCAN_BUDGET:
                return Count(matched, exact=False)

    # -- pages -------------------------------------------------------------------------

    def page(self, f: ActionFilter, after: Cursor | None = None, size: int = PAGE_SIZE) -> Page:
        """The ``size`` newest actions matching ``f`` that are older than ``after``."""
        if not f.scans:
            entries, more = self._candidates(f, after, size)
            return Page(self._rows(entries), more)
        found: list[Entry] = []
        scanned = 0
        cursor = after
        while len(found) < size:
            batch, cursor = self._candidates(f, cursor, max(size * 4, 200))
            scanned += len(batch)
            for entry in self._matching(f, batch):
                found.append(entry)
                if len(found) == size:
                    cursor = _cursor_of(entry)
                    break
            if cursor is None or scanned >= SCAN_BUDGET:
                break
        return Page(self._rows(found), cursor, scanned)

    def ids(self, f: ActionFilter, limit: int) -> Iterator[list[str]]:
        """The ids matching ``f``, newest first, in batches of at most 500, ``limit`` in
        all (for an operator's action on everything a filter matches)."""
        cursor: Cursor | None = None
        given = 0
        while given < limit:
            batch, cursor = self._candidates(f, cursor, min(500, limit - given))
            if f.scans:
                batch = list(self._matching(f, batch))
            if batch:
                given += len(batch)
                yield [action_id for _, action_id in batch]
            if cursor is None:
                return

    def _candidates(
        self, f: ActionFilter, after: Cursor | None, size: int
    ) -> tuple[list[Entry], Cursor | None]:
        """The ``size`` newest entries of the filter's sets older than ``after`` (merged
        newest first, ties by id descending, as Redis orders them), and the cursor after
        them (None when there are no more)."""
        high, low = f.bounds
        if after is not None and f.until_ms is not None and after.score > f.until_ms:
            after = None  # the time filter starts below the cursor
        pipe = self.store.client.pipeline(transaction=False)
        for key in self.sets(f):
            if after is None:
                pipe.zrevrangebyscore(key, high, low, 0, size + 1, withscores=True)
            else:
                top = after.score
                pipe.zrevrangebyscore(key, top, top, 0, TIES_LIMIT, withscores=True)
                pipe.zrevrangebyscore(key, f"({top}", low, 0, size + 1, withscores=True)
        replies = pipe.execute()
        merged: list[Entry] = []
        for reply in replies:
            for action_id, score in reply:
                if after is not None and score == after.score and action_id >= after.id:
                    continue  # on the page before, or the cursor itself
                if after is not None and score > after.score:
                    continue
                merged.append((score, action_id))
        merged.sort(reverse=True)
        if f.since_ms is not None:
            merged = [e for e in merged if e[0] >= f.since_ms]
        if len(merged) > size:
            merged = merged[:size]
            return merged, _cursor_of(merged[-1])
        return merged, None

    def _matching(self, f: ActionFilter, entries: Sequence[Entry]) -> Iterator[Entry]:
        """The entries whose record is of the filter's action."""
        pipe = self.store.client.pipeline(transaction=False)
        for _, action_id in entries:
            pipe.hget(self.keys.job(action_id), Field.ACTION)
        for entry, action in zip(entries, pipe.execute(), strict=True):
            if action == f.action:
                yield entry

    def _rows(self, entries: Sequence[Entry]) -> list[Row]:
        """The records of these entries (one round trip); expired ones are left out."""
        pipe = self.store.client.pipeline(transaction=False)
        for _, action_id in entries:
            pipe.hgetall(self.keys.job(action_id))
        rows: list[Row] = []
        for (score, action_id), record in zip(entries, pipe.execute(), strict=True):
            if record and Field.STATUS in record:
                rows.append(Row({**record, "id": action_id}, int(score)))
        return rows

    # -- names and minutes -------------------------------------------------------------

    def action_names(self, limit: int = 500) -> list[str]:
        """Names of the actions with indexed records, sorted."""
        names = self.store.client.zrange(self.keys.indexed_actions, 0, limit - 1)
        return sorted(str(n) for n in names)

    def queue_names(self, limit: int = 500) -> list[str]:
        """Names of the queues with indexed records, most recently enqueued to first."""
        names = self.store.client.zrevrange(self.keys.indexed_groups, 0, limit - 1)
        return [str(n) for n in names]

    def minutes(self, count: int = 60, now_ms: int | None = None) -> list[Minute]:
        """The counters of the last ``count`` minutes, oldest first (the current one last)."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        current = now_ms // 60_000
        minutes = range(current - count + 1, current + 1)
        pipe = self.store.client.pipeline(transaction=False)
        for minute in minutes:
            pipe.hgetall(self.keys.stats(minute))
        return [
            Minute(m * 60_000, {k: int(v) for k, v in found.items()})
            for m, found in zip(minutes, pipe.execute(), strict=True)
        ]

    def entered_ms(self, action_id: str, status: str) -> int | None:
        """When an action entered its status (ms), from its index."""
        score = self.store.client.zscore(self.keys.status_index(status), action_id)
        return None if score is None else int(score)


def _cursor_of(entry: Entry) -> Cursor:
    return Cursor(int(entry[0]), entry[1])


def _with_status(f: ActionFilter, status: ActionStatus) -> ActionFilter:
    return ActionFilter((status,), f.action, f.queue, f.since_ms, f.until_ms)
