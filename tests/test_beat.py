"""Real `celery beat` processes sending actions with `args`, `kwargs` and `options`: one
that imports the actions (its entries enqueue them), one that does not (a plain Celery app:
its messages are adopted at the door)."""

from __future__ import annotations

import json
import tempfile

from celery_actions import ActionStatus
from celery_actions.testing import wait_for

FAST = {"ACTIONS_PUMP_INTERVAL": "0.2"}


def _records_of(r, keys, predicate):
    """The job records whose params satisfy ``predicate``."""
    found = []
    for key in r.scan_iter(match=keys.job_pattern, count=1000):
        record = r.hgetall(key)
        if record.get("params") and predicate(json.loads(record["params"])):
            found.append(record)
    return found


def _beat(start_celery, app: str, schedule: dict) -> object:
    path = tempfile.mktemp(prefix="beat-schedule-")
    return start_celery(
        app, "beat", "-s", path, "--max-interval", "1", "-l", "INFO",
        env={"BEAT_SCHEDULE": json.dumps(schedule)},
        ready=lambda process: "beat: Starting..." in process.output(),
    )  # fmt: skip


def test_a_beat_that_does_not_import_the_actions_sends_adopted_actions(
    tapp, keys, start_worker, start_celery, r, uid
):
    # Given a worker, and a beat of a plain Celery app with an entry for an action
    start_worker("tests.app", env=FAST)
    key = f"beat-foreign-{uid}"
    entry = {
        "task": "tests.app.record", "schedule": 0.5, "args": [key], "kwargs": {"value": "v"},
        "options": {"priority": 1, "expires": 60, "headers": {"source": "beat"}},
    }  # fmt: skip
    beat = _beat(start_celery, "tests.foreign", {"record": entry})
    # When it has sent a few
    wait_for(lambda: r.llen(key) >= 2, timeout=30, what="beat's actions to run")
    beat.stop()
    # Then each ran as an action: recorded, with the entry's args, kwargs and options
    records = _records_of(r, keys, lambda p: p.get("key") == key)
    assert len(records) >= 2
    done = [rec for rec in records if rec["status"] == ActionStatus.COMPLETE]
    assert done, records
    record = done[0]
    assert json.loads(record["params"]) == {"key": key, "value": "v"}
    assert record["priority"] == "high"  # 0-2 are Redis's highest
    carried = json.loads(record["celery"])
    assert carried["headers"] == {"source": "beat", "celery_beat_task": True}
    assert carried["expires"]
    # And none ran twice: each value recorded once per action
    assert r.llen(key) == sum(rec["status"] == ActionStatus.COMPLETE for rec in records)


def test_a_beat_that_imports_the_actions_enqueues_them(
    tapp, keys, start_worker, start_celery, r, uid
):
    # Given a worker on the default and a dedicated Celery queue
    queue = f"beat-{uid}"
    start_worker("tests.app", env=FAST, args=("-Q", f"celery,{queue}"))
    # And a beat of the actions' own app, whose entry has positional args and options
    entry = {
        "task": "tests.app.double", "schedule": 0.5, "args": [21],
        "options": {"queue": queue, "priority": 9, "headers": {"source": "beat"}},
    }  # fmt: skip
    beat = _beat(start_celery, "tests.app", {"double": entry})

    def completed() -> list:
        return [
            rec for rec in _records_of(r, keys, lambda p: p == {"x": 21})
            if rec.get("cq") == queue and rec["status"] == ActionStatus.COMPLETE
        ]  # fmt: skip

    # Then its actions are enqueued (not adopted) and run with the entry's options
    record = wait_for(completed, timeout=30, what="beat's actions to complete")[0]
    beat.stop()
    assert record["priority"] == "low"  # 9 is Redis's lowest
    assert json.loads(record["celery"])["headers"] == {"source": "beat", "celery_beat_task": True}
    result = tapp.app.AsyncResult(record_id(r, keys, record)).get(timeout=10)
    assert result == 42
    assert "SchedulingError" not in beat.output()


def record_id(r, keys, record) -> str:
    for key in r.scan_iter(match=keys.job_pattern, count=1000):
        if r.hgetall(key) == record:
            return key[len(keys.job("")) :]
    raise AssertionError("record not found")
