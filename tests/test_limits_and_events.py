"""Hard time limits, worker-side params validation, and events for Flower."""

from __future__ import annotations

import threading

import pytest
from celery.exceptions import TimeLimitExceeded

from celery_actions import ActionStatus, InvalidParams
from celery_actions.redis.records import JobSpec, NewJob
from celery_actions.testing import wait_for

RETRY_NONE = '{"retry":{"n":0,"i":1000,"m":null,"f":2,"r":false,"d":1000}}'


def test_a_hard_time_limit_is_a_failed_attempt_and_frees_the_slot(tapp, start_worker, r, keys,
                                                                  uid):  # fmt: skip
    # Given a prefork worker and an action killed by its 1 s hard time limit, 1 retry
    queue = f"tl-{uid}"
    start_worker("tests.app", pool="prefork", concurrency=2, args=("-Q", queue))
    key = f"starts-{uid}"
    slow = tapp.actions.enqueue(tapp.too_slow, {"key": key, "seconds": 5}, queue=queue,
                                celery_queue=queue)  # fmt: skip
    wait_for(lambda: slow.status() is ActionStatus.RUNNING, what="running")
    waiter = tapp.actions.enqueue(tapp.add, {"a": 5}, queue=queue, celery_queue=queue)
    # When the limit kills it, then the waiter gets the slot and the retry runs after it
    assert waiter.result(timeout=30) == 5
    with pytest.raises(TimeLimitExceeded):
        slow.result(timeout=30)
    info = slow.info()
    assert (info.status, info.attempts, info.failures) == (ActionStatus.FAILED, 2, 2)
    assert info.error_type == "billiard.exceptions.TimeLimitExceeded"  # celery re-exports it
    assert r.llen(key) == 2
    assert r.zcard(keys.group_slots(queue)) == 0


def test_params_are_validated_again_on_the_worker(tapp, module_worker, uid):
    # Given a job whose recorded params do not fit the action (written around enqueue)
    spec = JobSpec("tests.app.add", RETRY_NONE, "default")
    job = NewJob(f"bad-{uid}", spec, '{"a":"not a number"}')
    tapp.actions.runtime.dispatcher.enqueue([job], "error")
    # Then the worker refuses them: the action fails without running
    with pytest.raises(InvalidParams, match="'a'"):
        tapp.actions.handle(tapp.add, job.id).result(timeout=20)
    assert tapp.actions.handle(tapp.add, job.id).status() is ActionStatus.FAILED


def test_flower_sees_scheduled_and_running_actions(tapp, module_worker, uid):
    # Given an event receiver like Flower's
    seen: dict[str, list[str]] = {}

    def on_event(event):
        if "uuid" in event:
            seen.setdefault(event["uuid"], []).append(event["type"])

    receivers = []

    def listen():
        with tapp.app.connection() as conn:
            receiver = tapp.app.events.Receiver(conn, handlers={"*": on_event})
            receivers.append(receiver)
            receiver.capture(limit=None, timeout=None, wakeup=False)  # until should_stop

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()

    def subscribed() -> bool:  # pub/sub keeps nothing: probe until the receiver hears one
        with tapp.app.events.default_dispatcher() as dispatcher:
            dispatcher.send("task-probe", uuid=f"probe-{uid}")
        return f"probe-{uid}" in seen

    wait_for(subscribed, timeout=10, interval=0.1, what="the event receiver")
    # When one action is scheduled and another runs
    scheduled = tapp.actions.enqueue(tapp.add, {"a": 1}, id=f"s-{uid}",
                                     start_at="2099-01-01T00:00Z")  # fmt: skip
    ran = tapp.actions.enqueue(tapp.add, {"a": 1}, id=f"r-{uid}")
    # ... and bulks, whose sent events travel as one list per chunk (task.multi)
    bulk = tapp.actions.enqueue_many(tapp.add, [{"a": i} for i in range(3)])
    later = tapp.actions.enqueue_many(tapp.add, [{"a": 1}] * 2, start_at="2099-01-01T00:00Z")
    assert ran.result(timeout=20) == 1
    assert bulk.results(timeout=20) == [0, 1, 2]
    # Then the scheduled ones were announced and the others' lives were visible
    for handle in (ran, *bulk):
        wait_for(
            lambda h=handle: "task-succeeded" in seen.get(h.id, []), what=f"events of {handle.id}"
        )
        assert {"task-sent", "task-received", "task-started"} <= set(seen[handle.id])
    for handle in (scheduled, *later):
        assert "task-sent" in seen.get(handle.id, [])
        handle.cancel()
    receivers[0].should_stop = True
    listener.join(10)
    assert not listener.is_alive()


def test_results_reach_a_result_backend_on_another_db(tapp, start_worker, redis_url, uid):
    # Given a worker whose result backend is another Redis db (no Lua shortcut there)
    from celery import Celery

    other = redis_url.rsplit("/", 1)[0] + "/7"
    queue = f"otherdb-{uid}"
    start_worker("tests.app", env={"BACKEND_URL": other}, args=("-Q", queue))
    reader = Celery("reader", backend=other, set_as_current=False)
    # When actions succeed, retry and fail there
    ok = tapp.actions.enqueue(tapp.add, {"a": 2, "b": 2}, celery_queue=queue)
    flaky = tapp.actions.enqueue(tapp.fail_times, {"key": f"a-{uid}", "times": 1},
                                 retries={"retryCount": 1, "initialInterval": 10},
                                 celery_queue=queue)  # fmt: skip
    bad = tapp.actions.enqueue(tapp.always_fail, {"message": "db7"}, celery_queue=queue)
    # Then that backend holds the outcomes, as Celery itself would store them
    assert reader.AsyncResult(ok.id).get(timeout=20) == 4
    assert reader.AsyncResult(flaky.id).get(timeout=20) == 2
    with pytest.raises(tapp.CustomError, match="db7"):
        reader.AsyncResult(bad.id).get(timeout=20)
    assert ok.status() is ActionStatus.COMPLETE and bad.status() is ActionStatus.FAILED
