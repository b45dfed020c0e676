"""The django.tasks backend end to end: enqueue, defer, priority, get_result states,
signals, async enqueue, our options."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from celery_actions.django._tasks_api import (
    InvalidTask,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task_enqueued,
)
from celery_actions.django.tasks import ActionsBackend
from celery_actions.testing import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def finished(task: Any, result_id: str, timeout: float = 20) -> Any:
    return wait_for(
        lambda: (result := task.get_result(result_id)).is_finished and result,
        timeout, 0.02, f"{task.name} {result_id} to finish",
    )  # fmt: skip


def test_the_backend_supports_everything() -> None:
    assert ActionsBackend.supports_defer and ActionsBackend.supports_async_task
    assert ActionsBackend.supports_get_result and ActionsBackend.supports_priority


def test_enqueue_and_get_result(dj_worker: Any, r: Any) -> None:
    from tests.djproject.shop.tasks import add

    seen: list[Any] = []
    task_enqueued.connect(lambda sender, task_result, **kw: seen.append(task_result), weak=False,
                          dispatch_uid="test-enqueued")  # fmt: skip
    try:
        result = add.enqueue(2, b=3)
    finally:
        task_enqueued.disconnect(dispatch_uid="test-enqueued")
    assert result.status == TaskResultStatus.READY and seen[0].id == result.id
    done = finished(add, result.id)
    assert done.status == TaskResultStatus.SUCCESSFUL
    assert done.return_value == 5
    assert (done.args, done.kwargs) == ([2], {"b": 3})
    assert len(done.worker_ids) == 1 and done.attempts == 1 and done.errors == []
    assert done.enqueued_at <= done.started_at <= done.finished_at
    # task_enqueued here; the worker sent task_started and task_finished (the test project's
    # receivers log every signal in Redis)
    key = f"django-signals:{result.id}"
    wait_for(lambda: r.llen(key) >= 3, 10, 0.02, "task_finished")
    signals = [json.loads(e) for e in r.lrange(key, 0, -1)]
    assert [(s["signal"], s["status"]) for s in signals] == [
        ("enqueued", "READY"), ("started", "RUNNING"), ("finished", "SUCCESSFUL")]  # fmt: skip


def test_each_failed_attempt_is_a_task_error(dj_worker: Any, r: Any, uid: str) -> None:
    from tests.djproject.shop.tasks import flaky

    # flaky has 2 retries: failing twice still succeeds, failing 3 times fails
    ok = finished(flaky, flaky.enqueue(f"{uid}:a", 2).id)
    assert ok.status == TaskResultStatus.SUCCESSFUL and ok.return_value == "ok"
    assert len(ok.errors) == 2 and len(ok.worker_ids) == 3
    assert ok.errors[0].exception_class is ValueError
    assert "attempt 1 fails" in ok.errors[0].traceback
    failed = finished(flaky, flaky.enqueue(f"{uid}:b", 5).id)
    assert failed.status == TaskResultStatus.FAILED and len(failed.errors) == 3
    # three task_started, one task_finished (the final outcome), FAILED
    key = f"django-signals:{failed.id}"
    wait_for(lambda: json.loads(r.lindex(key, -1))["signal"] == "finished", 10, 0.02)
    signals = [(s["signal"], s["status"]) for s in map(json.loads, r.lrange(key, 0, -1))]
    assert signals == [("enqueued", "READY"), *[("started", "RUNNING")] * 3,
                       ("finished", "FAILED")]  # fmt: skip
    with pytest.raises(ValueError, match="Task failed"):
        failed.return_value  # noqa: B018


def test_run_after_is_a_start_at(dj_worker: Any) -> None:
    from tests.djproject.shop.tasks import add

    run_after = timezone.now() + timedelta(seconds=3)
    result = add.using(run_after=run_after).enqueue(1, 1)
    pending = add.get_result(result.id)
    assert pending.status == TaskResultStatus.READY
    from tests.djproject.celery_app import actions

    assert actions.handle(add.module_path, result.id).status().value == "scheduled"
    done = finished(add, result.id)
    assert done.return_value == 2 and done.started_at >= run_after


def test_priority_queue_name_and_our_options() -> None:
    from tests.djproject.celery_app import actions
    from tests.djproject.shop.tasks import add, limited

    def record(result: Any) -> Any:
        return actions.handle(add.module_path if result.task.func is add.func
                              else limited.module_path, result.id).info()  # fmt: skip

    assert record(add.using(priority=-5).enqueue(1)).priority == "low"
    assert record(add.enqueue(1)).priority == "default"
    assert record(add.using(priority=100).enqueue(1)).priority == "high"
    info = record(limited.enqueue("k"))
    assert (info.queue, info.max_concurrency) == ("one-at-a-time", 1)
    raw = actions.runtime.store.record(add.using(queue_name="emails").enqueue(1).id)
    assert raw["cq"] == "emails"
    once = add.using(id="add-once", on_duplicate_id="ignore")
    assert once.enqueue(1).id == once.enqueue(2).id == "add-once"

    def retry(result: Any) -> dict[str, Any]:
        return json.loads(actions.runtime.store.record(result.id)["options"])["retry"]

    assert retry(add.using(retries=9).enqueue(1))["n"] == 9
    assert retry(add.enqueue(1))["n"] != 9
    policy = retry(add.using(retries={"retryCount": 2, "initialInterval": 250}).enqueue(1))
    assert (policy["n"], policy["i"]) == (2, 250)
    assert retry(add.using(retry_for=60_000).enqueue(1))["d"] == 60_000  # ms, as Gadget


def test_bad_options_and_unknown_ids() -> None:
    from tests.djproject.shop.tasks import add, limited

    with pytest.raises(InvalidTask, match="unknown task option 'retrys'"):
        add.using(retrys=3)
    with pytest.raises(InvalidTask, match="maxConcurrency"):
        add.using(queue={"name": "q", "maxConcurrency": 0})
    with pytest.raises(TaskResultDoesNotExist):
        add.get_result("no-such-id")
    with pytest.raises(ValueError, match="arguments of"):
        add.enqueue(1, 2, 3)
    result = add.enqueue(1)
    with pytest.raises(Exception, match="Task does not match"):
        limited.get_result(result.id)


def test_async_enqueue_and_async_tasks(dj_worker: Any) -> None:
    from tests.djproject.shop.tasks import async_add

    async def go() -> Any:
        result = await async_add.aenqueue(20, 22)
        for _ in range(1000):
            current = await async_add.aget_result(result.id)
            if current.is_finished:
                return current
            await asyncio.sleep(0.02)  # polling interval of the wait
        raise AssertionError("not finished")

    done = asyncio.run(go())
    assert done.return_value == 42


def test_takes_context(dj_worker: Any, r: Any, uid: str) -> None:
    from tests.djproject.shop.tasks import with_context

    done = finished(with_context, with_context.enqueue(uid).id)
    assert done.return_value == 1 and r.lrange(uid, 0, -1) == ["1"]
