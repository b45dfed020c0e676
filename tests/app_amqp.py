"""A test app on RabbitMQ (broker) with Redis for results and coordination.

AMQP_URL, REDIS_URL and AMQP_QUEUE (a per-session queue name, so its x-max-priority
argument never clashes with an older declaration) come from the environment.
"""

from __future__ import annotations

import os

import redis
from celery import Celery

from celery_actions import Actions
from celery_actions.testing import wait_for

REDIS_URL = os.environ["REDIS_URL"]
app = Celery("tests_amqp", broker=os.environ["AMQP_URL"], backend=REDIS_URL)
app.conf.task_default_queue = os.environ["AMQP_QUEUE"]
app.conf.actions_redis_url = REDIS_URL
app.conf.actions_key_prefix = "amqp-actions:"
actions = Actions(app)
r = redis.Redis.from_url(REDIS_URL, decode_responses=True)


@actions.action(retries=0)
def record(key: str, value: str) -> str:
    r.rpush(key, value)
    return value


@actions.action(retries=0)
def hold(key: str, release: str) -> str:
    r.rpush(key, "started")
    wait_for(lambda: r.exists(release), 30, interval=0.01, what=f"{release} (never released)")
    return "released"
