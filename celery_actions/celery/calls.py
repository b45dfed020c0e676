"""What an action's Celery messages carry besides its params, from the producer's call
(``apply_async``, a canvas, beat) or from a received message (adoption), stored in the
job record's ``celery`` field and put into every message of the job by the publisher.

The mapping of each Celery option is ``core/calls.py``; this module adds what needs
Celery: the lineage of the task running now, the action's own ``expires``, and the JSON
(kombu's, so signatures and datetimes survive) the record keeps.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from celery import Celery
from kombu.utils.json import dumps, loads

from ..core.calls import carried as check_carried
from ..core.protocol import TOKEN_HEADER
from ..errors import InvalidOptions
from .envelopes import Lineage

LINEAGE = frozenset({"root_id", "parent_id"})


def with_lineage(app: Celery, carried: dict[str, Any]) -> dict[str, Any]:
    """Inside a task, an action enqueued without a lineage of its own is its child."""
    if LINEAGE & carried.keys():
        return carried
    parent = app.current_worker_task
    if parent is None or parent.request.id is None:
        return carried
    return {**carried, "root_id": parent.request.root_id or parent.request.id,
            "parent_id": parent.request.id}  # fmt: skip


def with_expiry(task: Any, carried: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The action's own ``expires`` (``celery_options={"expires": ...}``), fixed at enqueue."""
    expires = getattr(task, "expires", None)
    if expires is None or "expires" in carried:
        return carried
    return {**carried, **check_carried({"expires": expires}, now)}


def encode(carried: Mapping[str, Any], limit: int) -> str:
    """The record's ``celery`` field ('' for nothing carried)."""
    if not carried:
        return ""
    try:
        text: str = dumps(carried)  # type: ignore[no-untyped-call]
    except (TypeError, ValueError) as exc:
        raise InvalidOptions(
            f"the canvas or headers of this call are not JSON-serialisable: {exc}",
            field="headers",
        ) from None
    if len(text) > limit:
        raise InvalidOptions(
            f"the canvas and headers of this call are {len(text)} characters of JSON, over the "
            f"actions_max_params_bytes limit of {limit}",
            field="headers",
        )
    return text


def decode(text: str) -> dict[str, Any]:
    """The inverse of :func:`encode`."""
    return dict(loads(text)) if text else {}  # type: ignore[no-untyped-call]


def lineage(carried: Mapping[str, Any]) -> Lineage | None:
    """The lineage a carried mapping names, if any."""
    if not LINEAGE & carried.keys():
        return None
    return Lineage(carried.get("root_id"), carried.get("parent_id"))


def fast_path_allowed(carried: Mapping[str, Any]) -> bool:
    """Messages that carry no more than a lineage may be written straight into a Redis
    broker (the fast path's envelope has no canvas, headers or expiry)."""
    return not carried.keys() - LINEAGE


def of_request(request: Any, now: datetime) -> dict[str, Any]:
    """What a received message carries (adopting a message sent without this library)."""
    headers = {
        k: v for k, v in (getattr(request, "headers", None) or {}).items() if k != TOKEN_HEADER
    }
    expires = getattr(request, "expires", None)
    if isinstance(expires, datetime) and expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    values = {
        "callbacks": request.callbacks,
        "errbacks": request.errbacks,
        "chain": request.chain,
        "chord": request.chord,
        "group_id": request.group,
        "group_index": request.group_index,
        "root_id": request.root_id,
        "parent_id": request.parent_id,
        "shadow": getattr(request, "shadow", None),
        "headers": headers,
        "expires": expires,
    }
    limits = getattr(request, "timelimit", None) or (None, None)
    values["time_limit"], values["soft_time_limit"] = limits[0], limits[1]
    return check_carried(values, now)


def expires_at(carried: Mapping[str, Any]) -> datetime | None:
    """When a carried expiry passes."""
    text = carried.get("expires")
    return None if not text else datetime.fromisoformat(text)
