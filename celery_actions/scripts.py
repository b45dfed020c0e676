"""Load the Lua scripts once and run them by SHA (``EVALSHA``), reloading on NOSCRIPT.

Each script under ``lua/`` is prepended with ``lua/_lib.lua``. Running by SHA on a
pipeline avoids redis-py's ``Script`` objects, which send ``SCRIPT EXISTS`` first on every
pipeline execute (a hidden round trip).
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from typing import Any

import redis
from redis.exceptions import NoScriptError

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
)


@cache
def source(name: str) -> str:
    """The full text of a script: the shared library, then the script itself."""
    lua = resources.files("celery_actions") / "lua"
    return (lua / "_lib.lua").read_text() + "\n" + (lua / f"{name}.lua").read_text()


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


def ensure_loaded(client: redis.Redis, *names: str) -> None:
    """Load scripts before queueing them on a pipeline with :func:`queue`."""
    wanted = names or SCRIPT_NAMES
    present = client.script_exists(*(sha(n) for n in wanted))
    for name, ok in zip(wanted, present, strict=True):
        if not ok:
            client.script_load(source(name))


def queue(pipe: Any, name: str, keys: list[str], args: list[Any]) -> None:
    """Queue a script on a pipeline; call :func:`ensure_loaded` first."""
    pipe.evalsha(sha(name), len(keys), *keys, *args)
