"""Celery's call options as an action's options: what ``apply_async``, a signature's
``.set()``, a canvas or a beat entry's ``options`` may say, mapped in one place.

Each option either becomes an enqueue option, or is carried by every message of the
action (the canvas: ``link``, ``link_error``, ``chain``, ``chord``, the group; and
``headers``, ``expires``, ``shadow``, the time limits, the lineage), or is a detail of
publishing that the enqueue does its own way. Anything else raises InvalidOptions naming
it: nothing is silently dropped.

=====================  ==========================================================
Celery option          for an action
=====================  ==========================================================
``task_id``            ``id`` (a taken id returns the existing action)
``eta``, ``countdown`` ``startAt`` (one of them, as Celery requires)
``priority``           ``priority``: Celery's number for the broker in use
                       (:func:`~.priority.priority_of_number`)
``queue``              the Celery queue (``celery_queue``)
``routing_key``        the Celery queue, when ``queue`` is not given
``expires``            carried: an action not started by then is cancelled
``headers``            carried in every message of the action
canvas, lineage        carried: ``link``, ``link_error``, ``chain``, ``chord``,
                       ``group_id``, ``group_index``, ``root_id``, ``parent_id``
``shadow``, limits     carried: ``shadow``, ``time_limit``, ``soft_time_limit``
publishing details     accepted, not needed: ``producer``, ``connection``,
                       ``publisher``, ``router``, ``result_cls``, ``retry``,
                       ``retry_policy``, ``route_name``, ``reply_to``,
                       ``add_to_parent`` (honoured)
=====================  ==========================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import InvalidOptions
from .option_errors import shown
from .priority import MAX_BROKER_PRIORITY, priority_of_number
from .protocol import TOKEN_HEADER

CANVAS = ("chain", "chord", "group_id", "group_index", "root_id", "parent_id", "shadow")
"""Carried as they are (validated for type only)."""
LIMITS = ("time_limit", "soft_time_limit")
PUBLISHING = frozenset(
    {"producer", "connection", "publisher", "router", "result_cls", "retry", "retry_policy",
     "route_name", "reply_to", "add_to_parent"}
)  # fmt: skip
"""Options about how a message is published; the enqueue publishes its own way."""
DEFAULTS_ONLY = {
    "serializer": ("json",),
    "compression": (),
    "exchange": ("",),
    "ignore_result": (False,),
    "stamped_headers": (),
    "replaced_task_nesting": (0,),
    "retries": (0,),
}
"""Options accepted only at Celery's default (or None/empty): anything else cannot apply."""
_WHY_NOT = {
    "serializer": "params always travel as JSON",
    "compression": "action messages are not compressed",
    "exchange": "route with queue= (or task_routes) instead",
    "ignore_result": "an action always stores its outcome (handle.result() reads it)",
    "stamped_headers": "canvas stamping is not supported for actions",
    "replaced_task_nesting": "Task.replace is not supported for actions",
    "retries": "retries are counted by the action's own retry policy",
}
RESERVED_HEADERS = frozenset(
    {"lang", "task", "id", "shadow", "eta", "expires", "group", "group_index", "retries",
     "timelimit", "root_id", "parent_id", "argsrepr", "kwargsrepr", "origin", "ignore_result",
     "replaced_task_nesting", "stamped_headers", "stamps", TOKEN_HEADER}
)  # fmt: skip
"""Message headers Celery (or celery-actions) sets itself: not a user header."""
KNOWN = sorted(
    {"task_id", "eta", "countdown", "priority", "queue", "routing_key", "expires", "headers",
     "link", "link_error", *CANVAS, *LIMITS, *PUBLISHING, *DEFAULTS_ONLY}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CeleryCall:
    """What a Celery call means for an action."""

    options: dict[str, Any] = field(default_factory=dict)
    """Enqueue options (Python spelling): id, start_at, priority, celery_queue."""
    message: dict[str, Any] = field(default_factory=dict)
    """Carried by every message of the action (non-empty values only): callbacks,
    errbacks, chain, chord, group_id, group_index, root_id, parent_id, headers, expires
    (ISO 8601, UTC), shadow, time_limit, soft_time_limit."""
    add_to_parent: bool = True


def _fail(name: str, why: str) -> InvalidOptions:
    return InvalidOptions(
        f"apply_async option {name!r} cannot apply to an action: {why}", field=name
    )


def from_call(options: Mapping[str, Any], transport: str, now: datetime) -> CeleryCall:
    """Map Celery call options (None values count as not given) for a broker transport."""
    given = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(given) - set(KNOWN))
    if unknown:
        raise InvalidOptions(
            f"unknown apply_async option(s) {', '.join(map(repr, unknown))} for an action. "
            f"Known: {', '.join(KNOWN)}",
            field=unknown[0],
        )
    for name, allowed in DEFAULTS_ONLY.items():
        if name in given and given[name] not in allowed and given[name] not in ([], (), {}):
            raise _fail(name, _WHY_NOT[name])
    enqueue: dict[str, Any] = {}
    if "task_id" in given:
        enqueue["id"] = given["task_id"]
    start_at = _start_at(given, now)
    if start_at is not None:
        enqueue["start_at"] = start_at
    if "priority" in given:
        enqueue["priority"] = _priority(given["priority"], transport)
    queue = _celery_queue(given)
    if queue is not None:
        enqueue["celery_queue"] = queue
    add_to_parent = given.get("add_to_parent", True)
    return CeleryCall(enqueue, carried(given, now), bool(add_to_parent))


def carried(given: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The options every message of the action carries, checked (from a call's options,
    or from a received message's request)."""
    message: dict[str, Any] = {}
    for name, key in (("link", "callbacks"), ("link_error", "errbacks"),
                      ("callbacks", "callbacks"), ("errbacks", "errbacks")):  # fmt: skip
        if given.get(name):
            message[key] = _signatures(given[name], name)
    for name in CANVAS:
        value = given.get(name)
        if value is None or value == [] or value == ():
            continue
        if name in ("group_index",) and (isinstance(value, bool) or not isinstance(value, int)):
            raise InvalidOptions(f"{name!r} must be an int", field=name)
        if name in ("group_id", "root_id", "parent_id", "shadow") and not isinstance(value, str):
            raise InvalidOptions(f"{name!r} must be a string", field=name)
        if name == "chain":
            value = _signatures(value, name)
        if name == "chord" and not isinstance(value, Mapping):
            raise InvalidOptions("'chord' must be a signature", field=name)
        message[name] = value
    for name in LIMITS:
        if given.get(name) is not None:
            message[name] = _seconds(given[name], name)
    if given.get("headers"):
        message["headers"] = _headers(given["headers"])
    if given.get("expires") is not None:
        message["expires"] = _expires(given["expires"], now).isoformat()
    return message


def _start_at(given: Mapping[str, Any], now: datetime) -> Any:
    if "eta" in given and "countdown" in given:
        raise InvalidOptions("give eta or countdown, not both", field="countdown")
    if "countdown" in given:
        return now + timedelta(seconds=_seconds(given["countdown"], "countdown", negative=True))
    return given.get("eta")  # parse_options checks it as startAt


def _priority(value: Any, transport: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidOptions(f"'priority' must be an int, got {shown(value)}", field="priority")
    if not 0 <= value <= MAX_BROKER_PRIORITY:
        raise InvalidOptions(
            f"'priority' must be from 0 to {MAX_BROKER_PRIORITY}, got {value}", field="priority"
        )
    return priority_of_number(value, transport).value


def _celery_queue(given: Mapping[str, Any]) -> str | None:
    queue = given.get("queue")
    if queue is not None and not isinstance(queue, str):
        queue = getattr(queue, "name", None)  # a kombu Queue
        if not isinstance(queue, str):
            raise InvalidOptions("'queue' must be a queue name or a kombu Queue", field="queue")
    key = given.get("routing_key")
    if key is None:
        return queue
    if not isinstance(key, str):
        raise InvalidOptions("'routing_key' must be a string", field="routing_key")
    if queue is not None and key != queue:
        raise _fail(
            "routing_key", f"it differs from queue {shown(queue)}; an action goes to one queue"
        )
    return key


def _seconds(value: Any, name: str, *, negative: bool = False) -> float:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise InvalidOptions(
            f"{name!r} must be a number of seconds, got {shown(value)}", field=name
        )
    if value < 0 and not negative:
        raise InvalidOptions(f"{name!r} must not be negative, got {shown(value)}", field=name)
    if abs(value) > 100 * 365 * 24 * 3600:
        raise InvalidOptions(f"{name!r} is more than a hundred years", field=name)
    return float(value)


def _expires(value: Any, now: datetime) -> datetime:
    if isinstance(value, str):
        text = value.strip()
        text = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidOptions(
                f"'expires' is not an ISO 8601 datetime: {shown(value)}", field="expires"
            ) from None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidOptions("'expires' needs a timezone offset", field="expires")
        try:
            return value.astimezone(UTC)
        except OverflowError:  # 9999-12-31T23:59:59-05:00 is past datetime's end in UTC
            raise InvalidOptions(
                f"'expires' is out of range: {value.isoformat()}", field="expires"
            ) from None
    return now + timedelta(seconds=_seconds(value, "expires", negative=True))


def _signatures(value: Any, name: str) -> list[dict[str, Any]]:
    items = [value] if isinstance(value, Mapping) else value
    if not isinstance(items, Sequence) or isinstance(items, str | bytes):
        raise InvalidOptions(f"{name!r} must be a signature or a list of them", field=name)
    result = []
    for item in items:
        if not isinstance(item, Mapping) or "task" not in item:
            raise InvalidOptions(f"{name!r} must hold signatures, got {shown(item)}", field=name)
        result.append(dict(item))
    return result


def _headers(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidOptions("'headers' must be a dict", field="headers")
    for key in value:
        if not isinstance(key, str):
            raise InvalidOptions(f"header names are strings, got {shown(key)}", field="headers")
        if key in RESERVED_HEADERS:
            raise InvalidOptions(
                f"header {shown(key)} is set by Celery or celery-actions itself",
                field=f"headers.{key}",
            )
    return dict(value)
