"""What a real `celery flower` process shows of actions, through its HTTP API
(`/api/tasks`, `/api/task/info/<id>`): retries counted, the next retry's eta, params as
JSON, the reason an action waits for a slot, cancels and revokes as REVOKED."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from celery_actions import ActionStatus
from celery_actions.testing import wait_for
from celery_actions.testing.embedded import free_port

FAST = {"ACTIONS_PUMP_INTERVAL": "0.2"}


class FlowerApi:
    """Flower's HTTP API."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.base + path, timeout=5) as response:
            body = response.read().decode()
        return body if path == "/healthcheck" else json.loads(body)

    def post(self, path: str) -> Any:
        request = urllib.request.Request(self.base + path, data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read().decode())

    def task(self, task_id: str) -> dict[str, Any] | None:
        """A task's info, or None while Flower has not heard of it."""
        try:
            found: dict[str, Any] = self.get(f"/api/task/info/{task_id}")
            return found
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def up(self) -> bool:
        try:
            return self.get("/healthcheck") == "OK"
        except OSError:
            return False


@pytest.fixture
def flower(tapp, start_celery, start_worker, uid) -> FlowerApi:
    """A worker, then a real Flower process that hears its events."""
    start_worker("tests.app", env=FAST)
    port = free_port()
    api = FlowerApi(port)
    start_celery(
        "tests.app", "flower", f"--port={port}", "--address=127.0.0.1",
        env={"FLOWER_UNAUTHENTICATED_API": "true"}, ready=lambda process: api.up(),
    )  # fmt: skip

    def hears() -> bool:  # events are not kept: send probes until Flower reports one
        with tapp.app.events.default_dispatcher() as dispatcher:
            dispatcher.send("task-sent", uuid=f"probe-{uid}", name="probe")
        return api.task(f"probe-{uid}") is not None

    wait_for(hears, timeout=30, interval=0.3, what="Flower to hear events")
    return api


def test_flower_shows_retries_the_next_eta_and_params_as_json(tapp, flower, uid):
    # Given an action that fails twice, retried after 1.5 s each time
    params = {"key": f"flower-{uid}", "times": 2}
    retries = {"retryCount": 2, "initialInterval": 1500, "backoffFactor": 1}
    h = tapp.actions.enqueue(tapp.fail_times, params, retries=retries)
    # When it waits for its first retry, Flower shows it retried and when it runs next
    wait_for(lambda: h.status() is ActionStatus.RETRYING, what="the first retry")
    seen = wait_for(lambda: (t := flower.task(h.id)) and t["state"] == "RETRY" and t,
                    what="RETRY in Flower")  # fmt: skip
    assert seen["eta"] is not None
    next_at = h.info().next_attempt_at
    assert abs(_time(seen["eta"]) - next_at.timestamp()) < 1
    # Then once it succeeds, Flower counts both retries and shows the params as JSON
    assert h.result(timeout=30) == 3
    done = wait_for(lambda: (t := flower.task(h.id)) and t["state"] == "SUCCESS" and t,
                    what="SUCCESS in Flower")  # fmt: skip
    assert done["retries"] == 2
    assert json.loads(done["kwargs"]) == params
    assert tapp.app.AsyncResult(h.id).retries == 2
    listed = flower.get(f"/api/tasks?search={h.id}")
    assert listed[h.id]["state"] == "SUCCESS"


def test_flower_shows_why_an_action_waits_for_a_slot(tapp, flower, r, uid):
    # Given a limit-1 queue whose slot is held
    queue, release = {"name": f"fq-{uid}", "maxConcurrency": 1}, f"rel-{uid}"
    holder = tapp.actions.enqueue(tapp.hold, {"key": f"h-{uid}", "release": release}, queue=queue)
    wait_for(lambda: holder.status() is ActionStatus.RUNNING, what="the holder")
    # When another action of that queue waits
    waiter = tapp.actions.enqueue(tapp.add, {"a": 7}, queue=queue)
    # Then Flower shows it PENDING, its result saying why
    seen = wait_for(lambda: (t := flower.task(waiter.id)) and t["result"] and t, what="reason")
    assert seen["state"] == "PENDING"
    assert seen["result"] == f"waiting: queue fq-{uid}: 1 of 1 slots in use"
    # And once it ran, its result is its value
    r.set(release, 1)
    assert waiter.result(timeout=20) == 7
    done = wait_for(lambda: (t := flower.task(waiter.id)) and t["state"] == "SUCCESS" and t,
                    what="SUCCESS in Flower")  # fmt: skip
    assert done["result"] == "7"


def test_flower_shows_cancelled_and_revoked_actions_as_revoked(tapp, flower, uid):
    # Given two scheduled actions
    later = "2099-01-01T00:00:00Z"
    cancelled = tapp.actions.enqueue(tapp.add, {"a": 1}, start_at=later)
    revoked = tapp.actions.enqueue(tapp.add, {"a": 2}, start_at=later)
    # When one is cancelled by its handle and the other revoked from Flower itself
    assert cancelled.cancel()
    flower.post(f"/api/task/revoke/{revoked.id}")
    # Then both are cancelled, and Flower shows both REVOKED
    wait_for(lambda: revoked.status() is ActionStatus.CANCELLED, what="the revoke")
    for handle in (cancelled, revoked):
        wait_for(lambda h=handle: (t := flower.task(h.id)) and t["state"] == "REVOKED",
                 what=f"REVOKED in Flower for {handle.id}")  # fmt: skip


def _time(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()
