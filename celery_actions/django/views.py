"""The Queues dashboard in Django: ``path("actions/", include("celery_actions.django.urls"))``.

Staff only: a user needs ``is_staff`` and the permission ``celery_actions.view_actionrecord``
to look (read-only), and ``celery_actions.operate_actionrecord`` to cancel, retry and
change queues (superusers have both). Others get 403; anonymous visitors go to the admin
login. Operator forms are POSTs under Django's CSRF protection. The pages themselves are
``celery_actions/web``'s, as ``celery -A proj actions dashboard`` serves them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.handlers.asgi import ASGIRequest
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.middleware.csrf import get_token
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_GET, require_POST

from ..web.actions import ActionPages
from ..web.assets import asset
from ..web.html import Html
from ..web.layout import Viewer
from ..web.live import LiveRegions
from ..web.operate import OperationRefused, operate
from ..web.pages import Dashboard
from .conf import get_actions

VIEW = "celery_actions.view_actionrecord"
OPERATE = "celery_actions.operate_actionrecord"
PAGES = ("overview", "queues", "list", "action")


def viewer_of(request: HttpRequest) -> Viewer:
    """The staff viewer of a request; raises PermissionDenied (403) for anyone else."""
    user = request.user
    if not (user.is_active and user.is_staff and user.has_perm(VIEW)):
        raise PermissionDenied("the Queues dashboard is for staff with the view permission")
    token = get_token(request)
    field = Html(format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token))
    return Viewer(user.has_perm(OPERATE), field, user.get_username())


def _dashboard(request: HttpRequest) -> Dashboard:
    """The dashboard, mounted where this request's URL says (its namespace's overview)."""
    match = request.resolver_match
    namespace = match.namespace if match is not None and match.namespace else "celery_actions"
    return Dashboard(get_actions().runtime, reverse(f"{namespace}:overview"))


def _staff(view: Any) -> Any:
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        viewer = viewer_of(request)
        return view(request, viewer, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _html(body: Html, status: int = 200) -> HttpResponse:
    response = HttpResponse(body, content_type="text/html; charset=utf-8", status=status)
    response["Cache-Control"] = "no-store"
    response["Content-Security-Policy"] = "default-src 'self'; style-src 'self'; img-src 'self'"
    return response


@require_GET
@_staff
def overview(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    """Counts by status, the last hour per minute, the workers."""
    return _html(_dashboard(request).overview(viewer, request.GET.get("msg", "")))


@require_GET
@_staff
def queues(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    """Each queue: limit, running, waiting, slot holders; an operator's controls."""
    return _html(_dashboard(request).queues(viewer, request.GET.get("msg", "")))


@require_GET
@_staff
def action_list(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    """Actions by status, action, queue and time; search by id; paged by cursor."""
    pages = ActionPages(_dashboard(request), viewer)
    return _html(pages.listing(request.GET, request.GET.get("msg", "")))


@require_GET
@_staff
def action_detail(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    """One action: its record, params and timeline."""
    found = ActionPages(_dashboard(request), viewer).detail(
        request.GET.get("id", ""), request.GET.get("msg", "")
    )
    if found is None:
        raise Http404("no such action (past its retention?)")
    return _html(found)


@require_GET
@_staff
def confirm(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    """How many actions an operation on a filter changes, and the button to do it."""
    if not viewer.can_operate:
        raise PermissionDenied("operating needs the operate permission")
    return _html(ActionPages(_dashboard(request), viewer).confirm(request.GET))


@require_POST
@csrf_protect
@_staff
def operate_view(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    """An operator's cancel, retry, bulk operation or queue change; back to the page."""
    if not viewer.can_operate:
        raise PermissionDenied("operating needs the operate permission")
    dashboard = _dashboard(request)
    try:
        message, where = operate(dashboard.runtime, request.POST.dict())
    except OperationRefused as exc:
        return HttpResponseBadRequest(str(exc))
    joiner = "&" if "?" in where else "?"
    return HttpResponseRedirect(f"{dashboard.base}{where}{joiner}msg={quote(message)}")


@require_GET
def live(request: HttpRequest) -> HttpResponse:
    """The page's live regions as server-sent events (long-lived under ASGI; under WSGI
    a short stream the browser reconnects to, a long-poll)."""
    if not request.user.is_authenticated:
        raise PermissionDenied("log in first")
    viewer = viewer_of(request)
    page = request.GET.get("page", "")
    if page not in PAGES:
        raise Http404("no such page")
    regions = LiveRegions(_dashboard(request), page, request.GET.dict(), viewer)
    if isinstance(request, ASGIRequest):
        stream: Any = regions.aframes()
    else:
        stream = regions.frames()
    response = StreamingHttpResponse(stream, content_type="text/event-stream")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    return response


@require_GET
def static(request: HttpRequest, name: str) -> HttpResponse:
    """The dashboard's script and style, and the browser client (``actions.js``, its
    React hooks ``react.js`` and their ``.d.ts`` types)."""
    found = asset(name)
    if found is None:
        raise Http404("no such file")
    content, content_type = found
    response = HttpResponse(content, content_type=content_type)
    response["Cache-Control"] = "public, max-age=300"
    return response
