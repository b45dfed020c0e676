"""The Celery settings Actions installs, the priority mapping, and the startup checks."""

from __future__ import annotations

from celery import Celery

from celery_actions import Actions, Priority
from celery_actions.celery.config import broker_priorities, check_worker_settings


def make_app(broker: str, **conf: object) -> Celery:
    app = Celery("t", broker=broker, backend="redis://127.0.0.1:1/0", set_as_current=False)
    app.conf.update(conf)
    Actions(app)
    return app


def test_defaults_serve_the_guarantees_and_user_settings_win():
    app = make_app("redis://127.0.0.1:1/0")
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_default_priority == 5
    assert app.conf.task_queue_max_priority == 10
    assert app.conf.worker_send_task_events and app.conf.task_send_sent_event
    mine = make_app("redis://127.0.0.1:1/0", worker_prefetch_multiplier=8)
    assert mine.conf.worker_prefetch_multiplier == 8


def test_priorities_map_to_each_brokers_order():
    redis_map = broker_priorities(make_app("redis://127.0.0.1:1/0"))
    amqp_map = broker_priorities(make_app("amqp://guest@127.0.0.1//"))
    # Redis reads its lowest-numbered list first; AMQP delivers the highest number first.
    assert redis_map[Priority.HIGH] < redis_map[Priority.DEFAULT] < redis_map[Priority.LOW]
    assert amqp_map[Priority.HIGH] > amqp_map[Priority.DEFAULT] > amqp_map[Priority.LOW]
    assert redis_map[Priority.DEFAULT] == amqp_map[Priority.DEFAULT] == 5


def test_startup_check_names_each_setting_that_breaks_a_guarantee():
    good = make_app("redis://127.0.0.1:1/0")
    assert check_worker_settings(good, lease_timeout_s=30) == []
    bad = make_app(
        "redis://127.0.0.1:1/0",
        worker_prefetch_multiplier=4,
        broker_transport_options={"visibility_timeout": 10},
        worker_send_task_events=False,
    )
    problems = check_worker_settings(bad, lease_timeout_s=30)
    assert len(problems) == 3
    assert "worker_prefetch_multiplier=4" in problems[0]
    assert "visibility_timeout=10s" in problems[1]
    assert "Flower" in problems[2]
