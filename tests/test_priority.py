"""Priorities really order execution, on Redis and on RabbitMQ."""

from __future__ import annotations

import importlib
import os
import uuid

import pytest

from celery_actions import ActionStatus
from celery_actions.redis.keys import Keys
from celery_actions.testing import wait_for
from tests.helpers import AMQP_URL, rabbitmq_reachable

ORDER = ["low", "default", "high", "low", "medium", "high"]
EXPECTED = ["high-2", "high-5", "default-1", "medium-4", "low-0", "low-3"]


def run_priority_scenario(actions, hold, record, r, uid, **enqueue_options):
    # Given a single-slot worker busy with a long action
    started, release, key = f"started-{uid}", f"release-{uid}", f"order-{uid}"
    busy = actions.enqueue(hold, {"key": started, "release": release}, **enqueue_options)
    wait_for(lambda: busy.status() is ActionStatus.RUNNING, what="the worker to be busy")
    # When low, default and high actions arrive, in mixed order
    handles = [
        actions.enqueue(record, {"key": key, "value": f"{p}-{i}"}, priority=p, **enqueue_options)
        for i, p in enumerate(ORDER)
    ]
    r.set(release, 1)
    for h in handles:
        h.result(timeout=30)
    # Then they ran highest first, arrival order within a priority
    return [v for v in r.lrange(key, 0, -1)]


def test_priority_orders_execution_on_redis(tapp, start_worker, r, uid):
    # Given a single-slot worker on its own Celery queue; then priorities order execution
    queue = f"prio-{uid}"
    start_worker("tests.app", concurrency=1, args=("-Q", queue))
    got = run_priority_scenario(tapp.actions, tapp.hold, tapp.record, r, uid, celery_queue=queue)
    assert got == EXPECTED


@pytest.mark.skipif(not rabbitmq_reachable(), reason="RabbitMQ is not running on 127.0.0.1:5672")
def test_priority_orders_execution_on_rabbitmq(redis_url, start_worker, r, uid):
    # Given an app on RabbitMQ (a per-test queue), with its own key prefix on the Redis
    queue = f"ca-test-{uuid.uuid4().hex[:8]}"
    env = {"AMQP_URL": AMQP_URL, "AMQP_QUEUE": queue, "REDIS_URL": redis_url}
    os.environ.update(env)
    amqp_app = importlib.import_module("tests.app_amqp")
    amqp_app.app.conf.task_default_queue = queue
    amqp_keys = amqp_app.actions.runtime.store.keys
    assert amqp_keys != Keys()  # the configured prefix, apart from tests.app's
    start_worker("tests.app_amqp", concurrency=1, env=env, key_prefix=amqp_keys.prefix)
    try:
        # Then priorities order execution there too
        got = run_priority_scenario(amqp_app.actions, amqp_app.hold, amqp_app.record, r, uid)
        assert got == EXPECTED
        # And bulks (generated and given ids) go through kombu's publisher there
        key = f"bulk-{uid}"
        generated = amqp_app.actions.enqueue_many(
            amqp_app.record, [{"key": key, "value": str(i)} for i in range(20)]
        )
        given = amqp_app.actions.enqueue_many(
            amqp_app.record, [{"key": key, "value": str(i)} for i in range(20, 25)], id=key
        )
        assert generated.results(timeout=30) == [str(i) for i in range(20)]
        assert given.results(timeout=30) == [str(i) for i in range(20, 25)]
        assert sorted(r.lrange(key, 0, -1), key=int) == [str(i) for i in range(25)]
        assert r.zcard(amqp_keys.scheduled) == 0  # every outbox entry confirmed
        # And the records are kept under the app's prefix, not the default one
        assert all(r.exists(amqp_keys.job(h.id)) for h in (*generated, *given))
        assert not any(r.exists(Keys().job(h.id)) for h in (*generated, *given))
    finally:
        with amqp_app.app.connection() as conn:
            conn.default_channel.queue_delete(queue)
