"""Bulk enqueue: the Redis fast path's contract with a stock worker, handles, waiting."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import pytest

from celery_actions import (
    ActionCancelled,
    ActionStatus,
    ActionTimeout,
    DuplicateActionId,
    InvalidOptions,
)
from celery_actions.testing import wait_for
from tests.helpers import group_keys_pattern

VOLATILE_HEADERS = {"id", "root_id", "kwargsrepr", "origin", "actions_token"}
VOLATILE_PROPERTIES = {"correlation_id", "delivery_tag"}


def test_fast_path_envelope_matches_apply_async(tapp, broker, r, uid):
    # Given no worker consumes the default queue in this module, the same action sent by
    # Celery's own publisher and by the fast path: enqueue, enqueue_many with an id (the
    # script pushes the envelopes) and without one (the envelopes go beside the script)
    assert tapp.actions.runtime.envelopes is not None
    broker.clear("celery")
    events = r.pubsub()
    events.psubscribe("*celeryev/task.*")
    events.get_message(timeout=1)
    new_ids: dict[str, list[str]] = {}
    celery_priority = {"high": 0, "default": 5, "low": 9}
    # When each is published, in each priority
    for priority in ("high", "default", "low"):
        tapp.app.send_task(
            "tests.app.add", kwargs={"a": 1, "b": 2}, task_id=f"k-{priority}-{uid}",
            priority=celery_priority[priority], headers={"actions_token": "1"},
            ignore_result=True,
        )  # fmt: skip
        tapp.actions.enqueue(tapp.add, {"a": 1, "b": 2}, id=f"f-{priority}-{uid}",
                             priority=priority)  # fmt: skip
        tapp.actions.enqueue_many(tapp.add, [{"a": 1, "b": 2}], id=f"m-{priority}-{uid}",
                                  priority=priority)  # fmt: skip
        fresh = tapp.actions.enqueue_many(tapp.add, [{"a": 1, "b": 2}] * 2, priority=priority)
        new_ids[priority] = [h.id for h in fresh]
    lists = broker.messages("celery")
    # Then each priority's five messages sit in the same list, in order, with the same shape
    assert len(lists) == 3
    for priority, messages in zip(("high", "default", "low"), lists.values(), strict=True):
        messages.reverse()  # LPUSH: newest first
        celery_msg, single, bulk, *fresh_msgs = messages
        assert celery_msg["headers"]["id"] == f"k-{priority}-{uid}"
        assert single["headers"]["id"] == f"f-{priority}-{uid}"
        assert bulk["headers"]["id"] == f"m-{priority}-{uid}-0"
        assert [m["headers"]["id"] for m in fresh_msgs] == new_ids[priority]
        for fast in (single, bulk, *fresh_msgs):
            assert set(fast) == set(celery_msg)
            assert same_except(celery_msg["headers"], fast["headers"], VOLATILE_HEADERS)
            assert same_except(celery_msg["properties"], fast["properties"], VOLATILE_PROPERTIES)
            assert fast["headers"]["root_id"] == fast["headers"]["id"]
            assert fast["properties"]["correlation_id"] == fast["headers"]["id"]
            assert json.loads(base64.b64decode(fast["body"])) == json.loads(
                base64.b64decode(celery_msg["body"])
            )
    # And the task-sent events match Celery's, on the same channel; a bulk of several
    # sends them as one list on task.multi, as Celery's buffered event dispatcher does
    sent = {}
    while (message := events.get_message(timeout=1)) is not None:
        if message["type"] == "pmessage":
            envelope = json.loads(message["data"])
            body = json.loads(base64.b64decode(envelope.pop("body")))
            for event in body if isinstance(body, list) else [body]:
                sent[event["uuid"]] = (message["channel"], envelope, event)
    events.close()
    celery_channel, celery_envelope, celery_event = sent[f"k-high-{uid}"]
    for fast_id in (f"f-high-{uid}", f"m-high-{uid}-0", *new_ids["high"]):
        channel, envelope, event = sent[fast_id]
        grouped = fast_id in new_ids["high"]
        assert channel == (celery_channel.replace("task.sent", "task.multi") if grouped
                           else celery_channel)  # fmt: skip
        assert same_except(celery_envelope, envelope, {"properties"})
        expected = dict(celery_envelope["properties"])
        if grouped:
            expected["delivery_info"] = {**expected["delivery_info"], "routing_key": "task.multi"}
        assert same_except(expected, envelope["properties"], {"delivery_tag"})
        assert set(event) == set(celery_event)
        assert same_except(celery_event, event, {"uuid", "root_id", "clock", "timestamp",
                                                 "kwargs", "pid", "hostname"})  # fmt: skip


def same_except(a, b, volatile):
    return {k: v for k, v in a.items() if k not in volatile} == {
        k: v for k, v in b.items() if k not in volatile
    }


def test_a_stock_worker_runs_fast_path_messages_like_apply_async(tapp, start_worker, r, uid):
    # Given fast-path messages: successes, a failure that retries, and priorities
    key = f"attempts-{uid}"
    ok = tapp.actions.enqueue_many(tapp.add, [{"a": i, "b": 1} for i in range(20)], id=f"ok-{uid}")
    retried = tapp.actions.enqueue_many(
        tapp.fail_times, [{"key": key, "times": 1}], retries={"retryCount": 2,
                                                              "initialInterval": 50},
    )  # fmt: skip
    failed = tapp.actions.enqueue_many(tapp.always_fail, [{"message": "no"}])
    # When a stock `celery worker` consumes them
    start_worker("tests.app")
    # Then results, retries and failures land in the result backend as with apply_async
    assert ok.results(timeout=30) == [i + 1 for i in range(20)]
    assert retried[0].result(timeout=30) == 2
    assert retried[0].info().failures == 1
    with pytest.raises(tapp.CustomError, match="no"):
        failed[0].result(timeout=30)
    meta = tapp.app.backend.get_task_meta(ok[3].id)
    assert (meta["status"], meta["result"], meta["task_id"]) == ("SUCCESS", 4, ok[3].id)
    # (compact: what result_extended adds, such as the name, is in the job record instead)
    assert set(meta) == {"status", "result", "task_id"}


def test_bulk_ids_handles_and_per_item_options(tapp, module_worker, r, uid):
    # Given a bulk with a base id, where one item sets its priority and one its own id
    items = [{"a": 1}, ({"a": 2}, {"priority": "high"}), ({"a": 3}, {"id": f"own-{uid}"})]
    handles = tapp.actions.enqueue_many(tapp.add, items, {"id": f"b-{uid}", "retries": 1})
    # Then the handles follow the items: ids <base>-<index> unless given, and options
    assert len(handles) == 3
    assert [h.id for h in handles] == [f"b-{uid}-0", f"b-{uid}-1", f"own-{uid}"]
    assert handles[-1].id == f"own-{uid}" and handles[1:][0].id == f"b-{uid}-1"
    assert handles.results(timeout=30) == [1, 2, 3]
    assert handles[1].info().priority == "high"
    assert handles[0].info().priority == "default"


def test_bulk_duplicate_ids_are_all_or_nothing(tapp, module_worker, uid):
    # Given a finished bulk of three with base id d
    first = tapp.actions.enqueue_many(tapp.add, [{"a": 1}] * 3, id=f"d-{uid}")
    first.results(timeout=30)
    # When bulks with the same base id are enqueued with duplicates ignored, then the taken
    # ids keep their first results and only the new ones run
    again = tapp.actions.enqueue_many(tapp.add, [{"a": 9}] * 4, id=f"d-{uid}",
                                      on_duplicate_id="ignore")  # fmt: skip
    assert again.results(timeout=30) == [1, 1, 1, 9]
    all_taken = tapp.actions.enqueue_many(tapp.add, [{"a": 7}] * 2, id=f"d-{uid}",
                                          on_duplicate_id="ignore")  # fmt: skip
    assert all_taken.results(timeout=30) == [1, 1]
    # And ignoring duplicates is a whole-batch option, refused per item
    with pytest.raises(InvalidOptions, match="whole batch"):
        tapp.actions.enqueue_many(tapp.add, [({"a": 1}, {"onDuplicateID": "ignore"})])


def test_as_completed_with_progress_and_exceptions(tapp, module_worker, uid):
    # Given a bulk of two actions that fail
    items = [{"message": "x"}] * 2
    bad = tapp.actions.enqueue_many(tapp.always_fail, items)
    # When it is awaited as completed, then each outcome carries its error, with progress
    progress = []
    outcomes = list(bad.as_completed(timeout=30, on_progress=lambda d, t: progress.append((d, t))))
    assert sorted(o.index for o in outcomes) == [0, 1]
    assert all(not o.ok and isinstance(o.value, tapp.CustomError) for o in outcomes)
    assert progress == [(1, 2), (2, 2)]
    # And results() raises the first error, or returns the errors when asked to
    with pytest.raises(tapp.CustomError):
        bad.results(timeout=30)
    got = bad.results(timeout=30, return_exceptions=True)
    assert all(isinstance(v, tapp.CustomError) for v in got)


def test_bulk_wait_timeout_and_cancelled_items(tapp, module_worker, r, keys, uid):
    # Given a bulk scheduled far ahead
    later = tapp.actions.enqueue_many(tapp.add, [{"a": 1}] * 2, start_at="2099-01-01T00:00Z")
    assert {h.status() for h in later} == {ActionStatus.SCHEDULED}
    # When its results are awaited, then that times out, naming how many are unfinished
    with pytest.raises(ActionTimeout, match="2 of 2"):
        later.results(timeout=0.5)
    assert r.hget(keys.job(later[0].id), "env") is not None  # kept until due
    # When its items are cancelled, then their results are ActionCancelled
    assert later[0].cancel() and later[1].cancel()
    got = later.results(timeout=10, return_exceptions=True)
    assert len(got) == 2
    assert all(isinstance(v, ActionCancelled) for v in got)
    # And their records no longer keep an envelope
    assert all(r.hget(keys.job(h.id), "env") is None for h in later)


def test_a_bulk_in_a_limited_queue_respects_the_limit(tapp, module_worker, r, keys, uid):
    # Given a bulk of ten in a queue of limit 2
    key = f"gate-{uid}"
    handles = tapp.actions.enqueue_many(
        tapp.gated, [{"key": key, "ms": 30}] * 10, queue={"name": f"bq-{uid}", "maxConcurrency": 2}
    )
    # When they have all run
    handles.results(timeout=30)
    # Then at most two ran at once (and two did), and the queue's keys are gone
    assert int(r.get(f"{key}:max")) == 2
    pattern = group_keys_pattern(keys, f"bq-{uid}")
    wait_for(lambda: not list(r.scan_iter(pattern)), what="queue keys gone")


def test_celery_actions_wait_shows_a_bulk_finishing(tapp, module_worker, redis_url, uid):
    # Given a bulk of five that succeed, and one of one that fails
    tapp.actions.enqueue_many(tapp.add, [{"a": i} for i in range(5)], id=f"w-{uid}")
    tapp.actions.enqueue_many(tapp.always_fail, [{"message": "m"}], id=f"wf-{uid}")
    command = [sys.executable, "-m", "celery", "-A", "tests.app", "actions", "wait"]
    env = {**os.environ, "REDIS_URL": redis_url}
    # When `celery actions wait` follows each, then it reports the counts, exit 1 on failure
    ok = subprocess.run([*command, f"w-{uid}", "-n", "5", "--timeout", "30"], env=env,
                        capture_output=True, text=True)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "5 succeeded, 0 failed" in ok.stdout
    bad = subprocess.run([*command, f"wf-{uid}", "-n", "1", "--timeout", "30"], env=env,
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 1
    assert "0 succeeded, 1 failed" in bad.stdout


def test_per_item_ids_that_collide_are_refused(tapp, uid):
    # Given ids that collide within one bulk: the same given id twice, or a given id that is
    # also a generated one, then the bulk is refused naming the id
    with pytest.raises(DuplicateActionId, match=f"x-{uid}"):
        tapp.actions.enqueue_many(tapp.add, [({"a": 1}, {"id": f"x-{uid}"})] * 2)
    with pytest.raises(DuplicateActionId, match=f"b-{uid}-1"):
        tapp.actions.enqueue_many(
            tapp.add, [{"a": 1}, {"a": 2}, ({"a": 3}, {"id": f"b-{uid}-1"})], id=f"b-{uid}"
        )


@pytest.mark.parametrize("with_id", [False, True], ids=["generated-ids", "given-id"])
def test_bulk_items_due_now_or_queued_run_from_their_stored_envelopes(tapp, module_worker, r,
                                                                     keys, uid,
                                                                     with_id):  # fmt: skip
    # Given bulk items that are not pushed at once: a startAt already past, and a queue
    # (with generated ids their envelopes are written beside the script, not through it)
    ids = {"id": f"due-{uid}"} if with_id else {}
    due = tapp.actions.enqueue_many(tapp.add, [{"a": i} for i in range(3)],
                                    start_at="2001-01-01T00:00Z", **ids)  # fmt: skip
    one_at_a_time = {"name": f"due-{uid}", "maxConcurrency": 1}
    queued = tapp.actions.enqueue_many(tapp.add, [{"a": i} for i in range(4)], queue=one_at_a_time)
    # Then all of them run, and no record keeps an envelope it no longer needs
    assert due.results(timeout=30) == [0, 1, 2]
    assert queued.results(timeout=30) == [0, 1, 2, 3]
    for handle in (*due, *queued):
        assert r.hget(keys.job(handle.id), "env") is None


@pytest.mark.parametrize("on_duplicate", ["error", "ignore"])
def test_an_id_taken_while_its_bulk_chunk_is_written_is_caught(tapp, r, keys, uid, monkeypatch,
                                                               on_duplicate):  # fmt: skip
    # Given another producer that takes id <base>-1 right after this bulk checked its ids
    from celery_actions.redis.writer import EnqueueWriter

    base, built = f"race-{on_duplicate}-{uid}", []
    write = EnqueueWriter.transaction

    def racing(self, jobs, sent_event):
        if not built:
            r.hset(keys.job(f"{base}-1"), "status", "complete")
        built.append(len(jobs))
        return write(self, jobs, sent_event)

    monkeypatch.setattr(EnqueueWriter, "transaction", racing)
    items = [{"a": i} for i in range(3)]
    # When the chunk's transaction runs, WATCH voids it, and the chunk is checked again
    if on_duplicate == "error":
        with pytest.raises(DuplicateActionId, match=f"{base}-1"):
            tapp.actions.enqueue_many(tapp.add, items, id=base)
        assert built == [3]
        assert not r.exists(keys.job(f"{base}-0")) and not r.exists(keys.job(f"{base}-2"))
    else:
        handles = tapp.actions.enqueue_many(tapp.add, items, id=base, on_duplicate_id="ignore")
        assert built == [3, 2]
        assert handles[0].status() is handles[2].status() is ActionStatus.WAITING
    # Then the other producer's record is untouched
    assert r.hgetall(keys.job(f"{base}-1")) == {"status": "complete"}


def test_an_id_repeated_in_a_bulk_is_written_once(tapp, module_worker, r, keys, uid):
    # Given a bulk whose items 0 and 1 carry the same id, duplicates ignored
    items = [({"a": 1}, {"id": f"rep-{uid}"}), ({"a": 2}, {"id": f"rep-{uid}"}), {"a": 3}]
    handles = tapp.actions.enqueue_many(tapp.add, items, id=f"rb-{uid}", on_duplicate_id="ignore")
    # Then the first one wins: one record, one run, the second item is its duplicate
    assert handles.results(timeout=30) == [1, 1, 3]
    assert tapp.actions.handle(tapp.add, f"rep-{uid}").info().params == {"a": 1, "b": 0}
    assert r.hget(keys.job(f"rep-{uid}"), "attempts") == "1"


def test_a_bulk_interrupted_while_sending_gives_its_connection_back(tapp, r, keys, uid,
                                                                   monkeypatch):  # fmt: skip
    # Given a bulk with given ids whose chunk fails after its ids were WATCHed
    from celery_actions.redis.writer import EnqueueWriter

    def broken(self, jobs, sent_event):
        raise KeyboardInterrupt

    monkeypatch.setattr(EnqueueWriter, "transaction", broken)
    pool = tapp.actions.runtime.store.client.connection_pool
    in_use = len(pool._in_use_connections)
    # When it is interrupted
    with pytest.raises(KeyboardInterrupt):
        tapp.actions.enqueue_many(tapp.add, [{"a": 1}] * 3, id=f"int-{uid}")
    # Then the connection is back in the pool, closed (WATCH could still be set on it)
    assert len(pool._in_use_connections) == in_use
    # And nothing of the bulk was written
    assert not r.exists(keys.job(f"int-{uid}-0"))
