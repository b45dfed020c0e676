"""Celery's retry tools and task options on actions: self.retry(), autoretry_for and the
retry settings as the action's one retry policy, bind=True, a custom base, async def."""

from __future__ import annotations

import itertools

import pytest
from celery import Celery

from celery_actions import Actions, ActionStatus, InvalidOptions


def test_self_retry_is_a_retry_under_the_action_policy(tapp, module_worker, r, uid):
    # Given a bound action that asks for two retries with self.retry(countdown=0.3)
    key = f"bound-{uid}"
    h = tapp.actions.enqueue(tapp.bound_retry, {"key": key, "fails": 2, "countdown": 0.3})
    # Then it completes on its third attempt, each retry after the asked delay
    got = h.result(timeout=30)
    assert (got["attempts"], got["retries"], got["id"]) == (3, 2, h.id)
    starts = [int(v) for v in r.lrange(key, 0, -1)]
    assert all(later - earlier >= 300 for earlier, later in itertools.pairwise(starts))
    info = h.info()
    assert (info.status, info.attempts, info.failures) == (ActionStatus.COMPLETE, 3, 2)


def test_self_retry_max_retries_ends_with_the_error(tapp, module_worker, uid):
    # Given a bound action that keeps asking to retry, with max_retries=3
    h = tapp.actions.enqueue(tapp.bound_retry, {"key": f"k-{uid}", "fails": 9, "countdown": 0})
    # Then its fourth attempt fails for good with the error it gave
    with pytest.raises(ValueError, match="attempt 4"):
        h.result(timeout=30)
    info = h.info()
    assert (info.status, info.attempts) == (ActionStatus.FAILED, 4)


def test_autoretry_for_retries_only_those_errors(tapp, module_worker, r, uid):
    # Given an action declared with autoretry_for=(KeyError,), max_retries=2, retry_backoff
    retried = tapp.actions.enqueue(tapp.auto_retry, {"key": f"a-{uid}", "error": "key"})
    other = tapp.actions.enqueue(tapp.auto_retry, {"key": f"b-{uid}", "error": "value"})
    # Then a KeyError is retried (as the backoff says), another error fails at once
    assert retried.result(timeout=30) == 3
    with pytest.raises(ValueError, match="not retried"):
        other.result(timeout=30)
    assert other.info().attempts == 1
    starts = [int(v) for v in r.lrange(f"a-{uid}", 0, -1)]
    assert starts[1] - starts[0] >= 50 and starts[2] - starts[1] >= 100  # 50 ms, doubling


def test_a_custom_base_keeps_its_hooks(tapp, module_worker, r):
    # Given an action declared with celery_options={"base": AuditedTask}
    h = tapp.actions.enqueue(tapp.audited, {"x": 1})
    # Then it runs as an action and the base's on_success hook ran
    assert h.result(timeout=20) == 2
    assert r.lrange(f"audit-{h.id}", 0, -1) == ["2"]
    assert tapp.audited.acks_late and isinstance(tapp.audited, tapp.AuditedTask)


def test_an_async_action_runs_on_the_worker(tapp, module_worker, r, uid):
    h = tapp.actions.enqueue(tapp.async_add, {"key": f"async-{uid}", "a": 2, "b": 3})
    assert h.result(timeout=20) == 5
    assert r.lrange(f"async-{uid}", 0, -1) == ["ran"]


def _declare(**kwargs):
    app = Celery("declare", broker="redis://127.0.0.1:1/0", set_as_current=False)
    actions = Actions(app)

    def act(x: int) -> int:
        return x

    return actions.action(**kwargs)(act)


def test_celery_retry_settings_become_the_declared_policy():
    task = _declare(celery_options={"max_retries": 4, "retry_backoff": 2, "retry_jitter": False})
    policy = task.action_defaults.retries
    assert (policy.retry_count, policy.initial_interval_ms, policy.backoff_factor) == (4, 2000, 2)
    assert (policy.max_interval_ms, policy.randomize_interval) == (600_000, False)
    fixed = _declare(celery_options={"default_retry_delay": 5})
    assert (fixed.action_defaults.retries.initial_interval_ms,
            fixed.action_defaults.retries.backoff_factor) == (5000, 1)  # fmt: skip
    agreeing = _declare(retries=4, celery_options={"max_retries": 4})
    assert agreeing.action_defaults.retries.retry_count == 4


def test_celery_retry_settings_that_contradict_the_action_are_refused():
    with pytest.raises(InvalidOptions, match="retryCount") as caught:
        _declare(retries=3, celery_options={"max_retries": 5})
    assert caught.value.field == "retries.retryCount"
    with pytest.raises(InvalidOptions, match="initialInterval"):
        _declare(retries={"initialInterval": 10}, celery_options={"retry_backoff": True})
    with pytest.raises(InvalidOptions, match="autoretry_for"):
        _declare(celery_options={"autoretry_for": ("not an exception",)})
