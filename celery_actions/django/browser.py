"""The browser API (JSON; ``openapi.json`` beside this module documents it).

``POST api/enqueue/<action>`` and ``api/enqueue-many/<action>`` enqueue an action marked
for the browser (``@actions.action(browser=True)``, or ``browser="app.perm"`` to require
a permission, or the ``CELERY_ACTIONS_BROWSER_ACTIONS`` allowlist); the enqueuer's
identity is recorded: the user (``u:<pk>``), or for an anonymous visitor the session
(``s:`` and a hash of its key). ``GET api/actions/<id>`` (status), ``.../result?wait=s``
(long-poll), ``.../events`` (server-sent events until it finishes) and ``POST
.../cancel`` answer that identity only: anyone else gets the same 404 as for an unknown
id. CSRF applies to the POSTs (session cookies); each identity has its own enqueue leaky
bucket (``CELERY_ACTIONS_BROWSER_RATE_LIMIT``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from ..client.identity import enqueued_by
from ..core.protocol import Field
from ..core.ratelimit import RateLimit
from ..errors import DuplicateActionId, InvalidOptions, InvalidParams, TooManyRequests
from ..redis import scripts
from .conf import get_actions
from .events import ActionEvents, public_status
from .registry import BrowserActions

MAX_ITEMS = 100
"""Items one enqueue-many call takes at most."""
ALLOWED_OPTIONS = {"startAt", "start_at", "priority", "retries", "id", "onDuplicateID",
                   "on_duplicate_id"}  # fmt: skip
"""Options a browser may give; the others (queue, retryFor, celery_queue) belong to the
server (a browser naming a queue would set its limit for everyone)."""
ID_ALPHABET = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def error(status: int, message: str, **extra: Any) -> JsonResponse:
    """A JSON error: ``{"error": message, ...}``."""
    return JsonResponse({"error": message, **extra}, status=status)


def identity_of(request: HttpRequest, create: bool = False) -> str:
    """The request's identity: ``u:<user pk>``, or ``s:<hash of the session key>`` for an
    anonymous visitor ('' when it has no session and ``create`` is false)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"u:{user.pk}"
    session = getattr(request, "session", None)
    if session is None:
        return ""
    if not session.session_key:
        if not create:
            return ""
        session.save()
    return "s:" + hashlib.sha256(str(session.session_key).encode()).hexdigest()[:32]


def _csrf_refusal(request: HttpRequest) -> JsonResponse | None:
    """Django's CSRF check (as its middleware makes it), as a JSON 403."""
    check = CsrfViewMiddleware(lambda r: HttpResponse())
    check.process_request(request)
    refused = check.process_view(request, None, (), {})
    if refused is None:
        return None
    return error(403, "CSRF check failed: send the csrftoken cookie's value as X-CSRFToken")


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        raise InvalidParams("the body is not JSON", field=None) from None
    if not isinstance(data, dict) or set(data) - {"params", "options"}:
        raise InvalidParams('the body is {"params": ..., "options": {...}}', field=None)
    return data


def _options(given: Any, identity: str) -> dict[str, Any]:
    """The browser's options, checked; a given id is made the identity's own."""
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise InvalidOptions("options is an object", field="options")
    refused = sorted(set(given) - ALLOWED_OPTIONS)
    if refused:
        raise InvalidOptions(
            f"option {refused[0]!r} cannot be set from a browser (allowed: startAt, priority, "
            "retries, id, onDuplicateID)",
            field=refused[0],
        )
    options = dict(given)
    if "id" in options:
        given_id = options["id"]
        if not isinstance(given_id, str) or not given_id or set(given_id) - ID_ALPHABET:
            raise InvalidOptions("id: letters, digits, '.', '_' and '-' only", field="id")
        options["id"] = own_id(identity, given_id[:100])
    return options


def own_id(identity: str, given: str) -> str:
    """An id a browser chose, made its identity's own (two identities choosing the same id
    never meet, nor learn that the other did)."""
    return f"b{hashlib.sha256(identity.encode()).hexdigest()[:10]}-{given}"


def _take(identity: str, n: int) -> JsonResponse | None:
    """Take ``n`` from the identity's leaky bucket, or a 429."""
    actions = get_actions()
    spec = actions.app.conf.get("actions_browser_rate_limit", "5/s")
    if spec in (None, "", 0):
        return None
    settings = actions.settings
    rate = RateLimit.parse(
        spec, settings.enqueue_burst, settings.environment, "actions_browser_rate_limit"
    )
    if rate is None:
        return None
    store = actions.runtime.store
    key = store.keys.ratelimit_of(identity)
    wait_ms = int(scripts.run(store.client, "ratelimit", [key], rate.args(n)))
    if wait_ms <= 0:
        return None
    response = error(429, "too many enqueues: slow down", retry_after=wait_ms / 1000)
    response["Retry-After"] = str(max(1, -(-wait_ms // 1000)))
    return response


def _enqueue(request: HttpRequest, action: str, many: bool) -> JsonResponse:
    refused = _csrf_refusal(request)
    if refused is not None:
        return refused
    actions = get_actions()
    task = BrowserActions(actions).find(action)
    if task is None:
        return error(404, f"no browser action {action!r}")
    permission = BrowserActions(actions).permission(task)
    if permission and not request.user.has_perm(permission):
        return error(403, f"enqueueing {action} needs the permission {permission}")
    try:
        body = _body(request)
        params = body.get("params")
        if many and (not isinstance(params, list) or not 1 <= len(params) <= MAX_ITEMS):
            raise InvalidParams(f"params is a list of 1 to {MAX_ITEMS} objects", field="params")
        n = len(params) if many else 1  # type: ignore[arg-type]
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            # a visitor without a cookie gets a new session (a new bucket) on each call: its
            # address has a bucket too, taken before any session is made
            limited = _take("a:" + str(request.META.get("REMOTE_ADDR", "")), n)
            if limited is not None:
                return limited
        identity = identity_of(request, create=True)
        if not identity:
            return error(403, "a session or a login is needed (SessionMiddleware)")
        options = _options(body.get("options"), identity)
        limited = _take(identity, n)
        if limited is not None:
            return limited
        with enqueued_by(identity):
            if many:
                handles = list(actions.enqueue_many(task, params, options))  # type: ignore[arg-type]
            else:
                handles = [actions.enqueue(task, params, options)]
    except (InvalidOptions, InvalidParams) as exc:
        return error(400, str(exc), field=exc.field)
    except DuplicateActionId as exc:
        return error(409, f"the id {exc} is taken (onDuplicateID: 'ignore' returns it)")
    except TooManyRequests as exc:
        return error(429, str(exc), retry_after=exc.retry_after)
    found = [public_status(actions, h.id) for h in handles]
    for entry in found:
        if entry["status"] == "unknown":  # held for this request's transaction (ATOMIC_REQUESTS)
            entry.update(action=task.name, status="held")
    if many:
        return JsonResponse({"action": task.name, "actions": found}, status=202)
    return JsonResponse(found[0], status=202)


@csrf_exempt  # checked in _enqueue, answering JSON
@require_POST
def enqueue(request: HttpRequest, action: str) -> JsonResponse:
    """Enqueue one browser action: 202 with its id and status."""
    return _enqueue(request, action, many=False)


@csrf_exempt
@require_POST
def enqueue_many(request: HttpRequest, action: str) -> JsonResponse:
    """Enqueue one browser action per params object: 202 with each id and status."""
    return _enqueue(request, action, many=True)


def _owned(request: HttpRequest, action_id: str) -> dict[str, str] | None:
    """The record, if this request's identity enqueued it."""
    identity = identity_of(request)
    if not identity:
        return None
    record = get_actions().runtime.store.record(action_id)
    if record is None or record.get(Field.IDENTITY) != identity:
        return None
    return record


NOT_FOUND = "no such action"


@require_GET
def status(request: HttpRequest, action_id: str) -> JsonResponse:
    """The action's status (404 unless this identity enqueued it)."""
    if _owned(request, action_id) is None:
        return error(404, NOT_FOUND)
    return JsonResponse(public_status(get_actions(), action_id))


@csrf_exempt
@require_POST
def cancel(request: HttpRequest, action_id: str) -> JsonResponse:
    """Cancel the action (a running one is not interrupted, only kept from retrying)."""
    refused = _csrf_refusal(request)
    if refused is not None:
        return refused
    if _owned(request, action_id) is None:
        return error(404, NOT_FOUND)
    actions = get_actions()
    outcome = actions.runtime.dispatcher.cancel(action_id)
    if outcome == "cancelled":
        actions.app.backend.mark_as_revoked(action_id, "cancelled")
    return JsonResponse({**public_status(actions, action_id), "cancelled": outcome == "cancelled"})


async def result(request: HttpRequest, action_id: str) -> JsonResponse:
    """The outcome, waiting up to ``?wait=`` seconds (at most 30) for it: a long-poll
    (with ``&since=<status>``: until the status changes). Until it is finished:
    ``{"finished": false, "status": ...}``."""
    if request.method != "GET":  # (Django 4.2's require_GET does not wrap async views)
        return error(405, "GET only")
    if await sync_to_async(_owned)(request, action_id) is None:
        return error(404, NOT_FOUND)
    try:
        wait = min(max(float(request.GET.get("wait", "0")), 0.0), 30.0)
    except ValueError:
        return error(400, "wait is a number of seconds")
    events = ActionEvents(get_actions(), action_id)
    return JsonResponse(await events.outcome(wait, request.GET.get("since", "")))


async def events(request: HttpRequest, action_id: str) -> HttpResponse:
    """Server-sent events of the action's status until it finishes (its last event has
    the outcome). Under WSGI a stream lasts 25 s at most and the browser reconnects."""
    if request.method != "GET":
        return error(405, "GET only")
    if await sync_to_async(_owned)(request, action_id) is None:
        return error(404, NOT_FOUND)
    watcher = ActionEvents(get_actions(), action_id)
    stream: Any = watcher.astream() if isinstance(request, ASGIRequest) else watcher.stream()
    response = StreamingHttpResponse(stream, content_type="text/event-stream")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    return response


@require_GET
def openapi(request: HttpRequest) -> HttpResponse:
    """This API as OpenAPI 3.1."""
    from pathlib import Path

    text = (Path(__file__).with_name("openapi.json")).read_text(encoding="utf-8")
    return HttpResponse(text, content_type="application/json")
