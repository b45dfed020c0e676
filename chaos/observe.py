"""What a chaos run did, read back from Redis: runs per job, overlaps per queue, slots
and keys left behind, and how long killed attempts took to start again."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from typing import Any

import redis

from celery_actions.redis.keys import Keys

GLOBAL_KEYS = ("scheduled", "leases", "queues", "queue_limits", "seq", "wake", "workers",
               "pulse", "ratelimit")  # fmt: skip


@dataclass
class Report:
    """The figures of one scenario."""

    name: str
    jobs: int
    statuses: dict[str, int]
    lost: int
    ran_twice: int
    """Jobs whose body completed twice (``twice_in_window`` of them explained below)."""
    max_running: dict[str, tuple[int, int]]  # queue -> (observed max, limit)
    leaked_slots: int
    keys_left: list[str]
    recoveries_s: list[float] = field(default_factory=list)
    """Kill to the next start of each cut-short job (includes waiting behind the backlog
    and in its queue's line)."""
    reclaims_s: list[float] = field(default_factory=list)
    """Kill to the moment each cut-short job was taken back (lease reclaimed, dispatched
    again): the recovery itself."""
    notes: list[str] = field(default_factory=list)
    twice_in_window: int = 0
    """Of ``ran_twice``: a worker killed between the first run's end and its outcome write
    (the at-least-once window of every task queue; the body's effects happened, the
    outcome did not, so the action runs again)."""

    @property
    def limits_held(self) -> bool:
        return all(seen <= limit for seen, limit in self.max_running.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "jobs": self.jobs, "statuses": self.statuses, "lost": self.lost,
            "ran_twice": self.ran_twice, "twice_in_window": self.twice_in_window,
            "max_running": {q: list(v) for q, v in self.max_running.items()},
            "leaked_slots": self.leaked_slots, "keys_left": self.keys_left,
            "reclaim_s": _spread(self.reclaims_s), "recovery_s": _spread(self.recoveries_s),
            "notes": self.notes,
        }  # fmt: skip


def _spread(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"n": len(values), "median": round(statistics.median(values), 2),
            "max": round(max(values), 2)}  # fmt: skip


def observe(
    r: redis.Redis,
    keys: Keys,
    name: str,
    jobs: dict[str, tuple[str, str | None, int]],  # job -> (action id, queue, limit)
    kills: list[tuple[str, float]],  # (node, time)
) -> Report:
    """Read back a finished scenario."""
    statuses: dict[str, int] = {}
    for action_id, _, _ in jobs.values():
        status = r.hget(keys.job(action_id), "status") or "missing"
        statuses[status] = statuses.get(status, 0) + 1
    done = {job: r.llen(f"chaos:done:{job}") for job in jobs}
    starts = [json.loads(x) for x in r.lrange("chaos:starts", 0, -1)]
    ends = [json.loads(x) for x in r.lrange("chaos:ends", 0, -1)]
    twice = [job for job, n in done.items() if n > 1]
    report = Report(
        name=name,
        jobs=len(jobs),
        statuses=statuses,
        lost=sum(1 for n in done.values() if n == 0),
        ran_twice=len(twice),
        max_running=_max_running(jobs, starts, ends, kills),
        leaked_slots=_slots_left(r, keys, jobs),
        keys_left=_keys_left(r, keys),
        recoveries_s=_recoveries(starts, ends, kills),
    )
    for job in twice:
        in_window, why = _why_twice(job, ends, kills)
        report.twice_in_window += in_window
        report.notes.append(f"{job} ran twice: {why}")
    return report


def _why_twice(
    job: str, ends: list[dict[str, Any]], kills: list[tuple[str, float]]
) -> tuple[bool, str]:
    """Whether the worker of a job's first completed run was killed right after its body
    ended, before the outcome could be recorded (the window every queue has: the body's
    effects happened, the outcome did not)."""
    first = min((e for e in ends if e["job"] == job and e.get("ok")), key=lambda e: e["end"])
    after = [k - first["end"] for node, k in kills if node == first["node"] and k >= first["end"]]
    if after and min(after) < 0.05:
        return True, (
            f"its worker {first['node']} was killed {min(after) * 1000:.1f} ms after the "
            "body ended, before its outcome was recorded"
        )
    return False, f"unexplained (first run ended on {first['node']}, no kill of it just after)"


def _intervals(starts: list[dict[str, Any]], ends: list[dict[str, Any]],
               kills: list[tuple[str, float]]) -> list[tuple[str, float, float]]:  # fmt: skip
    """(job, start, end) of every attempt; one that never ended ends when its worker was
    killed (its process died then)."""
    ended = {(e["job"], e["node"], e["start"]): e["end"] for e in ends}
    killed_at = dict(kills)
    spans = []
    for s in starts:
        end = ended.get((s["job"], s["node"], s["at"]), killed_at.get(s["node"]))
        if end is not None:
            spans.append((s["job"], s["at"], end))
    return spans


def _max_running(jobs, starts, ends, kills) -> dict[str, tuple[int, int]]:  # type: ignore[no-untyped-def]
    per_queue: dict[str, list[tuple[float, int]]] = {}
    for job, start, end in _intervals(starts, ends, kills):
        _, queue, _ = jobs[job]
        if queue is not None:
            per_queue.setdefault(queue, []).extend(((start, 1), (end, -1)))
    limits = {queue: limit for _, queue, limit in jobs.values() if queue is not None}
    result = {}
    for queue, events in per_queue.items():
        running = highest = 0
        for _, step in sorted(events, key=lambda e: (e[0], e[1])):  # ends first on a tie
            running += step
            highest = max(highest, running)
        result[queue] = (highest, limits[queue])
    return result


def _slots_left(r: redis.Redis, keys: Keys, jobs) -> int:  # type: ignore[no-untyped-def]
    queues = {queue for _, queue, _ in jobs.values() if queue is not None}
    held = sum(int(r.zcard(keys.group_slots(q))) + int(r.zcard(keys.group_waiting(q)))
               for q in queues)  # fmt: skip
    return held + int(r.zcard(keys.leases))


KEPT_WITH_RECORDS = ("job:", "ix:", "stats:")
"""Key families that outlive a run by design: the records, the dashboard's indexes of them
(trimmed as records expire) and its per-minute counters (they expire on their own)."""


def _keys_left(r: redis.Redis, keys: Keys) -> list[str]:
    """Keys under the prefix besides job records, what is kept with them (a timeline only
    while its record exists) and the (empty or small) global ones."""
    expected = {f"{keys.prefix}{name}" for name in GLOBAL_KEYS}
    kept = tuple(f"{keys.prefix}{family}" for family in KEPT_WITH_RECORDS)
    timeline = keys.timeline("")
    left = []
    for key in r.scan_iter(f"{keys.prefix}*", count=10_000):
        if key.startswith(kept) or key in expected:
            continue
        if key.startswith(timeline) and r.exists(keys.job(key[len(timeline) :])):
            continue
        left.append(key)
    for name in ("scheduled", "leases"):
        size = int(r.zcard(f"{keys.prefix}{name}"))
        if size:
            left.append(f"{keys.prefix}{name} ({size} entries)")
    return sorted(left)


def _recoveries(starts, ends, kills) -> list[float]:  # type: ignore[no-untyped-def]
    """For each attempt a kill cut short: seconds from the kill to its job's next start."""
    ended = {(e["job"], e["node"], e["start"]) for e in ends}
    by_job: dict[str, list[float]] = {}
    for s in starts:
        by_job.setdefault(s["job"], []).append(s["at"])
    out = []
    for node, killed in kills:
        for s in starts:
            cut = s["node"] == node and s["at"] < killed
            if cut and (s["job"], s["node"], s["at"]) not in ended:
                later = [t for t in by_job[s["job"]] if t > killed]
                if later:
                    out.append(min(later) - killed)
    return out
