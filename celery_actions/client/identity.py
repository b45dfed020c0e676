"""Who enqueues: the identity a browser API call acts for, recorded in the job record.

The browser API (``celery_actions.django.browser``) enqueues inside
``with enqueued_by("u:42"):``; every job built meanwhile in this context (thread or
asyncio task) carries that identity, and only that identity may then read the action's
status, result and events, or cancel it, through the browser API.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_IDENTITY: ContextVar[str] = ContextVar("celery_actions_identity", default="")


def current_identity() -> str:
    """The identity enqueues made here are recorded under ('' for none)."""
    return _IDENTITY.get()


@contextmanager
def enqueued_by(identity: str) -> Iterator[None]:
    """Record ``identity`` on every action enqueued inside the block (an enqueue held for
    its transaction's commit keeps it: the outbox row carries it)."""
    if not identity:
        raise ValueError("an identity is a non-empty string such as 'u:42'")
    token = _IDENTITY.set(identity)
    try:
        yield
    finally:
        _IDENTITY.reset(token)
