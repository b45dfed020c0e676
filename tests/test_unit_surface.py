"""The public surface and the Redis key layout."""

from __future__ import annotations

import redis

import celery_actions
from celery_actions import scripts
from celery_actions.keys import Keys


def test_public_names_are_pinned():
    assert sorted(celery_actions.__all__) == [
        "ActionCancelled", "ActionInfo", "ActionNotFound", "ActionStatus", "ActionTask",
        "ActionTimeout", "Actions", "ActionsError", "BackgroundActionHandle",
        "ConfigurationError", "DuplicateActionId", "InvalidOptions", "InvalidParams",
        "Priority", "QueueOption", "RetryPolicy", "TooManyRequests", "WorkerLost",
    ]  # fmt: skip
    for name in celery_actions.__all__:
        assert getattr(celery_actions, name).__doc__, name


def test_bad_input_errors_are_value_errors():
    for cls in (celery_actions.InvalidOptions, celery_actions.InvalidParams,
                celery_actions.DuplicateActionId):  # fmt: skip
        assert issubclass(cls, ValueError) and issubclass(cls, celery_actions.ActionsError)


def test_lua_builds_the_same_key_names_as_keys_py(redis_url):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    lib = scripts.source("claim").split("-- claim.lua")[0]
    got = client.eval(
        lib + "return {job_key('P:', 'ID'), slots_key('P:', 'Q'), waiting_key('P:', 'Q')}", 0
    )
    k = Keys("P:")
    assert got == [k.job("ID"), k.queue_slots("Q"), k.queue_waiting("Q")]


def test_every_script_has_a_keys_argv_header():
    for name in scripts.SCRIPT_NAMES:
        text = scripts.source(name).split(f"\n-- {name}.lua", 1)[-1]
        assert "KEYS[1]" in text and "ARGV[1]" in text, name
