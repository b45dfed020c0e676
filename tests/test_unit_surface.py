"""The public surface and the Redis key layout."""

from __future__ import annotations

import re
from importlib import resources

import celery_actions
from celery_actions import ActionStatus, Priority
from celery_actions.core.protocol import (
    PRIORITY_BANDS,
    SCRIPT_REPLIES,
    TOKEN_HEADER,
    CancelMode,
    EnqueueOutcome,
    Field,
    Outcome,
    QueueOp,
    Stat,
)
from celery_actions.redis import scripts
from celery_actions.redis.keys import Keys


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


def test_lua_builds_the_same_key_names_as_keys_py(r):
    client = r
    lib = scripts.source("claim").split("-- claim.lua")[0]
    got = client.eval(
        lib + "return {job_key('P:', 'ID'), slots_key('P:', 'Q'), waiting_key('P:', 'Q'),"
        " paused_key('P:'), overrides_key('P:'), status_index('P:', 'failed'),"
        " action_index('P:', 'failed', 'A'), group_index('P:', 'failed', 'Q'),"
        " stats_key('P:', 120000), timeline_key('P:', 'ID'), events_channel('P:', 'ID'),"
        " indexed_actions_key('P:'), indexed_groups_key('P:')}",
        0,
    )
    k = Keys("P:")
    assert got == [
        k.job("ID"), k.group_slots("Q"), k.group_waiting("Q"), k.group_paused,
        k.group_overrides, k.status_index("failed"), k.action_index("failed", "A"),
        k.group_index("failed", "Q"), k.stats(2), k.timeline("ID"), k.events("ID"),
        k.indexed_actions, k.indexed_groups,
    ]  # fmt: skip


def test_every_script_has_a_keys_argv_header():
    for name in scripts.SCRIPT_NAMES:
        text = scripts.source(name).split(f"\n-- {name}.lua", 1)[-1]
        header = [line for line in text.splitlines() if line.startswith("--")]
        assert any(line.startswith("-- KEYS") for line in header), name
        assert any("ARGV" in line for line in header), name


def _lua_literals() -> set[str]:
    """Every lowercase single-quoted word in the Lua sources."""
    lua = resources.files("celery_actions.redis") / "lua"
    text = "\n".join(f.read_text() for f in lua.iterdir() if f.name.endswith(".lua"))
    return set(re.findall(r"'([a-z_]+)'", text))


def test_lua_names_only_protocol_fields_statuses_and_outcomes():
    # Every record field, status, outcome and reply tag the Lua scripts name is one the
    # protocol module defines (a typo such as 'failurs' fails here).
    known = (
        {f.value for f in Field}
        | {s.value for s in ActionStatus}
        | {o.value for o in Outcome}
        | {o.value for o in EnqueueOutcome}
        | {m.value for m in CancelMode}
        | SCRIPT_REPLIES
        | {q.value for q in QueueOp}
        | {s.value for s in Stat}
        | set(PRIORITY_BANDS)
        | {"error", "ignore", "new", "level", "at"}  # on-duplicate modes; the bucket's fields
        | {"queue_paused", "queue_overrides"}  # key names (pinned against keys.py below)
    )
    assert _lua_literals() - known == set()
    # ... and every field the protocol defines is used by the scripts or written by Python
    assert {f.value for f in Field} - _lua_literals() <= {Field.ENVELOPE.value}


def test_lua_constants_come_from_the_protocol(r):
    client = r
    lib = scripts.source("claim").split("-- claim.lua")[0]
    got = client.eval(lib + "return {TOKEN_HEADER, BAND.high, BAND.default, BAND.low}", 0)
    assert got == [TOKEN_HEADER, *(PRIORITY_BANDS[p] for p in ("high", "default", "low"))]
    assert [Priority(p).band for p in ("high", "default", "low")] == [0, 1, 2]
