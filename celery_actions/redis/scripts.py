"""Load the Lua scripts once and run them by SHA (``EVALSHA``), reloading on NOSCRIPT.

Each script under ``lua/`` is prepended with the protocol's constants (generated from
``core/protocol.py``) and ``lua/_lib.lua``. Running by SHA avoids redis-py's ``Script``
objects, which send ``SCRIPT EXISTS`` first on every pipeline execute (a hidden round
trip). Scripts inside a MULTI are sent as ``EVAL`` with :func:`source` instead, so a
NOSCRIPT can never split a transaction.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from typing import Any

import redis
from redis.exceptions import NoScriptError

from ..core.protocol import BAND_SPAN, PRIORITY_BANDS, TIMELINE_MAX, TOKEN_HEADER

SCRIPT_NAMES = (
    "enqueue",
    "confirm",
    "claim",
    "finish",
    "pump",
    "renew",
    "cancel",
    "ratelimit",
    "taken",
    "lost",
    "abandon",
    "trim",
    "retry_now",
    "queue_admin",
)


def prelude() -> str:
    """The protocol constants the Lua library uses, as Lua."""
    bands = ", ".join(f"{name} = {band}" for name, band in PRIORITY_BANDS.items())
    return (
        "-- generated from celery_actions/core/protocol.py\n"
        f"local TOKEN_HEADER = '{TOKEN_HEADER}'\n"
        f"local BAND = {{ {bands} }}\n"
        f"local BAND_SPAN = {BAND_SPAN}\n"
        f"local TIMELINE_MAX = {TIMELINE_MAX}\n"
    )


@cache
def source(name: str) -> str:
    """The full text of a script: the constants, the shared library, then the script."""
    lua = resources.files(__package__) / "lua"
    return "\n".join((prelude(), (lua / "_lib.lua").read_text(), (lua / f"{name}.lua").read_text()))


@cache
def sha(name: str) -> str:
    """The SHA1 Redis knows the script by."""
    return hashlib.sha1(source(name).encode()).hexdigest()


def run(client: redis.Redis, name: str, keys: list[str], args: list[Any]) -> Any:
    """Run a script in one round trip (two the first time a server sees it)."""
    try:
        return client.evalsha(sha(name), len(keys), *keys, *args)
    except NoScriptError:
        client.script_load(source(name))
        return client.evalsha(sha(name), len(keys), *keys, *args)


def ensure_loaded(client: redis.Redis) -> None:
    """Load every script the server does not know yet (once at worker start)."""
    present = client.script_exists(*(sha(n) for n in SCRIPT_NAMES))
    for name, ok in zip(SCRIPT_NAMES, present, strict=True):
        if not ok:
            client.script_load(source(name))
