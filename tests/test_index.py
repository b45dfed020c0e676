"""The indexes the Lua scripts keep, compact finished records, retention by outcome, the
timeline, and the operators' changes (retry now, queue limits, pause), on real workers."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from celery_actions import ActionStatus
from celery_actions.core.protocol import Outcome, QueueOp, Stat
from celery_actions.core.settings import Settings
from celery_actions.redis.connection import ProcessClient
from celery_actions.redis.listing import ActionFilter, ActionIndex, Cursor
from celery_actions.redis.records import AttemptOutcome, JobSpec, NewJob
from celery_actions.redis.store import Store
from celery_actions.redis.writer import EnqueueWriter
from celery_actions.testing import wait_for

STATUSES = [s.value for s in ActionStatus]


def index_of(keys, r, action_id):
    """The (status, action, queue) index sets an id is in."""
    found = []
    for key in r.scan_iter(match=f"{keys.prefix}ix:*"):
        if r.type(key) == "zset" and r.zscore(key, action_id) is not None:
            found.append(key)
    return sorted(found)


def expected_sets(keys, status, action, queue=""):
    sets = [keys.status_index(status), keys.action_index(status, action)]
    if queue:
        sets.append(keys.group_index(status, queue))
    return sorted(sets)


@pytest.fixture
def index(tapp):
    return ActionIndex(tapp.actions.runtime.store)


def test_each_status_change_moves_the_action_between_its_indexes(tapp, module_worker, r, keys, uid):
    # Given an action of a queue that holds until released, and one scheduled in an hour
    queue = f"ix-{uid}"
    held = tapp.actions.enqueue(
        tapp.hold,
        {"key": f"k-{uid}", "release": f"rel-{uid}"},
        queue={"name": queue, "maxConcurrency": 1},
    )
    later = tapp.actions.enqueue(
        tapp.add, {"a": 1}, start_at=datetime.now(UTC) + timedelta(hours=1)
    )
    # Then each is indexed under its status, its action and its queue, and only there
    assert index_of(keys, r, later.id) == expected_sets(keys, "scheduled", "tests.app.add")
    wait_for(lambda: held.status() is ActionStatus.RUNNING, what="running")
    assert index_of(keys, r, held.id) == expected_sets(keys, "running", "tests.app.hold", queue)
    # When one finishes and the other is cancelled
    r.set(f"rel-{uid}", 1)
    held.result(timeout=20)
    later.cancel()
    # Then they moved to their final statuses' indexes
    assert index_of(keys, r, held.id) == expected_sets(keys, "complete", "tests.app.hold", queue)
    assert index_of(keys, r, later.id) == expected_sets(keys, "cancelled", "tests.app.add")
    # And the names are registered for the dashboard's filters
    assert r.zscore(keys.indexed_actions, "tests.app.hold") is not None
    assert r.zscore(keys.indexed_groups, queue) is not None


def test_counts_and_pages_follow_the_indexes(tapp, module_worker, index, uid):
    # Given 120 actions of one bulk (one millisecond each chunk: ties in the indexes)
    handles = tapp.actions.enqueue_many(
        tapp.echo,
        [{"payload": i} for i in range(120)],
        queue={"name": f"page-{uid}", "maxConcurrency": 10},
    )
    handles.results(timeout=60)
    f = ActionFilter((ActionStatus.COMPLETE,), queue=f"page-{uid}")
    # Then the count is exact
    assert index.count(f).value == 120
    # And paging by cursor visits every action once, newest first, 50 at a time
    seen: list[str] = []
    cursor: Cursor | None = None
    sizes = []
    while True:
        page = index.page(f, cursor)
        sizes.append(len(page.rows))
        seen += [row.record["id"] for row in page.rows]
        entered = [row.entered_ms for row in page.rows]
        assert entered == sorted(entered, reverse=True)
        if page.next is None:
            break
        cursor = Cursor.decode(page.next.encode())
    assert sizes == [50, 50, 20]
    assert sorted(seen) == sorted(h.id for h in handles)
    # And the action filter and the status counts agree
    by_action = ActionFilter((ActionStatus.COMPLETE,), action="tests.app.echo")
    assert index.count(by_action).value >= 120
    assert index.status_counts()[ActionStatus.COMPLETE] >= 120


def test_an_action_and_queue_filter_checks_each_record(tapp, module_worker, index, uid):
    # Given one queue used by two actions
    queue = {"name": f"mixed-{uid}", "maxConcurrency": 5}
    adds = tapp.actions.enqueue_many(tapp.add, [{"a": i} for i in range(7)], queue=queue)
    echoes = tapp.actions.enqueue_many(tapp.echo, [{"payload": i} for i in range(5)], queue=queue)
    adds.results(timeout=30)
    echoes.results(timeout=30)
    # When listing and counting one action of that queue
    f = ActionFilter(action="tests.app.add", queue=f"mixed-{uid}")
    page = index.page(f, size=5)
    # Then only that action's records are there, counted exactly
    assert {row.record["action"] for row in page.rows} == {"tests.app.add"}
    assert len(page.rows) == 5 and page.next is not None
    rest = index.page(f, page.next, size=5)
    assert {row.record["id"] for row in page.rows + rest.rows} == {h.id for h in adds}
    assert index.count(f).value == 7 and index.count(f).exact


def test_the_time_filter_bounds_pages_and_counts(tapp, module_worker, index, uid):
    # Given two actions completed some time apart
    first = tapp.actions.enqueue(tapp.add, {"a": 1})
    first.result(timeout=10)
    between = int(time.time() * 1000) + 1
    wait_for(lambda: int(time.time() * 1000) > between + 5, what="time to pass")
    second = tapp.actions.enqueue(tapp.add, {"a": 2})
    second.result(timeout=10)
    # Then a filter from the time between them sees only the second
    after = ActionFilter((ActionStatus.COMPLETE,), action="tests.app.add", since_ms=between)
    ids = [row.record["id"] for row in index.page(after, size=500).rows]
    assert second.id in ids and first.id not in ids
    before = ActionFilter((ActionStatus.COMPLETE,), action="tests.app.add", until_ms=between)
    ids = [row.record["id"] for row in index.page(before, size=500).rows]
    assert first.id in ids and second.id not in ids
    assert (
        index.count(after).value + index.count(before).value
        == index.count(ActionFilter((ActionStatus.COMPLETE,), action="tests.app.add")).value
    )


def test_a_completed_action_costs_at_most_600_bytes_with_its_result(tapp, module_worker, r, keys):
    # Given a typical completed action: small params, a small result
    handle = tapp.actions.enqueue(tapp.echo, {"payload": {"to": "ann@example.com"}})
    assert handle.result(timeout=10) == {"to": "ann@example.com"}
    # Then its record holds what people read, compactly
    record = r.hgetall(keys.job(handle.id))
    for gone in ("options", "claim", "first_started_at", "limit", "reason", "priority"):
        assert gone not in record, gone
    assert r.object("encoding", keys.job(handle.id)) in ("ziplist", "listpack")
    # And the record and the result meta measure at most 600 bytes in all
    meta_key = tapp.app.backend.get_key_for_task(handle.id).decode()
    used = r.memory_usage(keys.job(handle.id), samples=0) + r.memory_usage(meta_key, samples=0)
    assert used <= 600, used
    # And both expire together, after the completed retention
    settings = tapp.actions.settings
    for key in (keys.job(handle.id), meta_key):
        ttl_s = r.pttl(key) / 1000
        assert settings.retention_completed_s - 60 < ttl_s <= settings.retention_completed_s


def test_a_failed_action_keeps_its_timeline_for_the_failed_retention(
    tapp, module_worker, r, keys, uid
):
    # Given an action that fails twice, retried after 20 ms, then fails for good
    handle = tapp.actions.enqueue(
        tapp.fail_times,
        {"key": f"ft-{uid}", "times": 9},
        retries={"retryCount": 2, "initialInterval": 20},
    )
    with pytest.raises(ValueError, match="attempt 3 fails"):
        handle.result(timeout=20)
    # Then its timeline has each attempt: worker, times, retry delay, error and traceback
    timeline = [json.loads(e) for e in r.lrange(keys.timeline(handle.id), 0, -1)]
    assert [e["outcome"] for e in timeline] == ["retrying", "retrying", "failed"]
    assert [e["n"] for e in timeline] == [1, 2, 3]
    assert [e.get("delay_ms") for e in timeline] == [20, 40, None]
    for e in timeline:
        assert e["worker"].startswith(module_worker.name)
        assert e["started_at"] <= e["ended_at"]
        assert e["error_type"] == "builtins.ValueError"
        assert "Traceback" in e["traceback"] and "fail_times" in e["traceback"]
    # And the record keeps what a retry needs, and both expire after the failed retention
    assert "options" in r.hgetall(keys.job(handle.id))
    settings = tapp.actions.settings
    for key in (keys.job(handle.id), keys.timeline(handle.id)):
        assert r.pttl(key) / 1000 > settings.retention_completed_s
        assert r.pttl(key) / 1000 <= settings.retention_failed_s


def test_the_per_minute_counters_count_enqueues_and_outcomes(tapp, module_worker, index):
    # Given the counters of this minute
    before = index.minutes(1)[0]
    # When 3 actions complete and one fails
    tapp.actions.enqueue_many(tapp.add, [{"a": i} for i in range(3)]).results(timeout=10)
    with pytest.raises(tapp.CustomError):
        tapp.actions.enqueue(tapp.always_fail, {"message": "x"}).result(timeout=10)
    after = index.minutes(2)
    # Then the minutes counted them (the minute may have turned meanwhile)
    assert before.start_ms in {m.start_ms for m in after}

    def total(stat: Stat) -> int:
        return sum(m.get(stat) for m in after) - before.get(stat)

    assert total(Stat.ENQUEUED) >= 4
    assert total(Stat.COMPLETE) >= 3
    assert total(Stat.FAILED) >= 1


def test_trim_drops_the_entries_of_expired_records(redis_url, r, uid):
    # Given completed actions of an environment whose completed retention is 50 ms
    conf = {"actions_redis_url": redis_url, "actions_key_prefix": f"trim-{uid}:",
            "actions_retention_completed": 0.05}  # fmt: skip
    store = Store(Settings.from_conf(conf))
    writer = EnqueueWriter(store.settings, ProcessClient(redis_url))
    spec = JobSpec("tests.app.add", '{"retry":{}}', "default", group="g", limit=5)
    jobs = [NewJob(f"j{i}", spec, "{}") for i in range(5)]
    writer.enqueue(jobs, "error")
    for job in jobs:
        token = r.hget(store.keys.job(job.id), "token")
        store.claim(job.id, token, "w", "tests.app.add", "c")
        store.finish(job.id, token, AttemptOutcome(Outcome.COMPLETE))
    keys = store.keys
    assert r.zcard(keys.group_index("complete", "g")) == 5
    # When a trim runs once that much time has passed
    removed: list[int] = []
    wait_for(lambda: removed.append(store.trim((0, 0)).removed) or sum(removed) == 15,
             what="trimmed: 5 actions x (status, action, queue)")  # fmt: skip
    # Then no index holds them any more, and the names with nothing indexed are kept
    # until the longest retention has passed since their last enqueue
    for job in jobs:
        assert index_of(keys, r, job.id) == []
    assert r.zscore(keys.indexed_groups, "g") is not None


def test_retry_now_runs_a_failed_action_again(tapp, module_worker, r, keys, uid):
    # Given an action that failed (its only attempt), whose next attempt would succeed
    handle = tapp.actions.enqueue(tapp.fail_times, {"key": f"rn-{uid}", "times": 1}, retries=0)
    with pytest.raises(ValueError):
        handle.result(timeout=10)
    # When an operator retries it now (its stored failure removed first, as the dashboard
    # does, so that result() waits for the new run)
    tapp.app.backend.forget(handle.id)
    assert tapp.actions.runtime.dispatcher.retry_now([handle.id]) == ["retried"]
    # Then it runs again and completes, its timeline keeping the failed attempt
    assert handle.result(timeout=10) == 2
    assert handle.info().attempts == 2
    timeline = [json.loads(e) for e in r.lrange(keys.timeline(handle.id), 0, -1)]
    assert [e["outcome"] for e in timeline] == ["failed"]
    assert index_of(keys, r, handle.id) == expected_sets(keys, "complete", "tests.app.fail_times")


def test_retry_now_starts_a_scheduled_action_at_once(tapp, module_worker):
    # Given an action scheduled in an hour
    handle = tapp.actions.enqueue(
        tapp.add, {"a": 5}, start_at=datetime.now(UTC) + timedelta(hours=1)
    )
    # When an operator retries it now; Then it runs now
    assert tapp.actions.runtime.dispatcher.retry_now([handle.id]) == ["retried"]
    assert handle.result(timeout=10) == 5
    # And a complete action is left as it is
    assert tapp.actions.runtime.dispatcher.retry_now([handle.id]) == ["unchanged"]


def test_a_paused_queue_admits_nothing_until_resumed(tapp, module_worker, uid):
    # Given a paused queue
    queue = f"paused-{uid}"
    dispatcher = tapp.actions.runtime.dispatcher
    dispatcher.queue_admin(queue, QueueOp.PAUSE)
    # When actions of it are enqueued
    handles = tapp.actions.enqueue_many(
        tapp.add, [{"a": i} for i in range(3)], queue={"name": queue, "maxConcurrency": 3}
    )
    # Then they wait, saying why
    infos = [h.info() for h in handles]
    assert {i.status for i in infos} == {ActionStatus.WAITING}
    assert infos[0].reason == f"queue {queue}: paused"
    # When it is resumed, they run
    dispatcher.queue_admin(queue, QueueOp.RESUME)
    assert handles.results(timeout=10) == [0, 1, 2]


def test_an_operator_limit_wins_over_the_enqueues(tapp, module_worker, r, keys, uid):
    # Given a queue whose operator limit is 2, though its enqueues say 1
    queue = f"op-{uid}"
    dispatcher = tapp.actions.runtime.dispatcher
    dispatcher.queue_admin(queue, QueueOp.LIMIT, 2)
    release = f"rel-{uid}"
    handles = [
        tapp.actions.enqueue(
            tapp.hold,
            {"key": f"k-{uid}", "release": release},
            queue={"name": queue, "maxConcurrency": 1},
        )
        for _ in range(3)
    ]
    # Then two run at once, the third waits
    wait_for(lambda: r.llen(f"k-{uid}") == 2, what="two running")
    assert sorted(h.status().value for h in handles) == ["running", "running", "waiting"]
    # When the operator's limit is dropped, the enqueues' limit (1) applies again
    dispatcher.queue_admin(queue, QueueOp.UNLIMIT)
    assert r.hget(keys.group_overrides, queue) is None
    r.set(release, 1)
    for h in handles:
        assert h.result(timeout=20) == "released"
