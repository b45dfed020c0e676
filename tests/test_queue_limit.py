"""When enqueues disagree on a queue's maxConcurrency: the latest one sets the limit, the
gate enforces it at once, and ``celery actions queues`` shows the same number."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from celery_actions import ActionStatus
from celery_actions.redis.views import active_queues
from celery_actions.testing import wait_for


def shown_limit(tapp, redis_url: str, name: str) -> int:
    """The limit `celery -A tests.app actions queues --json` prints for a queue."""
    out = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "tests.app", "actions", "queues", "--json"],
        capture_output=True, text=True, check=True, env={**os.environ, "REDIS_URL": redis_url},
    ).stdout  # fmt: skip
    return next(q["limit"] for q in json.loads(out) if q["name"] == name)


def test_the_latest_enqueue_sets_the_limit_the_gate_enforces(
    tapp, module_worker, r, uid, redis_url
):
    name = f"lim-{uid}"
    release = f"rel-{uid}"
    store = tapp.actions.runtime.store

    def hold(limit: int):
        params = {"key": f"s-{uid}", "release": release}
        return tapp.actions.enqueue(
            tapp.hold, params, queue={"name": name, "maxConcurrency": limit}
        )

    def running(handles) -> int:
        return sum(h.status() is ActionStatus.RUNNING for h in handles)

    # Given a limit-1 queue with one action running and one waiting
    first, second = hold(1), hold(1)
    wait_for(lambda: first.status() is ActionStatus.RUNNING, what="first running")
    assert second.status() is ActionStatus.WAITING
    # When an enqueue names the queue with maxConcurrency 3
    third = hold(3)
    # Then the waiting action and the new one are admitted at once: three run
    wait_for(lambda: running([first, second, third]) == 3, what="three running")
    assert [q.limit for q in active_queues(store) if q.name == name] == [3]
    assert shown_limit(tapp, redis_url, name) == 3
    # When a later enqueue lowers it to 1
    fourth = hold(1)
    # Then nothing running is stopped, the new action waits, and 1 is what is shown
    assert fourth.status() is ActionStatus.WAITING
    assert fourth.info().reason == f"queue {name}: 3 of 1 slots in use"
    assert running([first, second, third]) == 3
    assert shown_limit(tapp, redis_url, name) == 1
    # And once released, all four complete
    r.set(release, 1)
    assert [h.result(timeout=30) for h in (first, second, third, fourth)] == ["released"] * 4
    # And the idle queue's limit is forgotten
    wait_for(lambda: r.hget(store.keys.group_limits, name) is None, what="limit forgotten")
