"""``celery -A proj actions dashboard --port N``: the dashboard's pages for any Celery app
(no Django), served by the standard library's WSGI server, one thread per request.

It has no users: bind it to 127.0.0.1 (the default) or put it behind your own
authentication. ``--read-only`` hides and refuses every operation; otherwise operator
forms carry a CSRF token that must match the dashboard's cookie.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Iterable, Iterator
from http.cookies import SimpleCookie
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .actions import ActionPages
from .assets import asset
from .html import Html, html
from .layout import Viewer
from .live import LiveRegions
from .operate import OperationRefused, operate
from .pages import Dashboard

if TYPE_CHECKING:
    from ..celery.runtime import Runtime

StartResponse = Callable[..., Any]
COOKIE = "actions_csrf"
PAGES = ("overview", "queues", "list", "action")


class DashboardApp:
    """The dashboard as a WSGI application mounted at '/'."""

    def __init__(self, runtime: Runtime, read_only: bool = False) -> None:
        self.dashboard = Dashboard(runtime, "/")
        self.read_only = read_only

    def __call__(self, environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        method = environ.get("REQUEST_METHOD", "GET")
        query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
        token = cookie[COOKIE].value if COOKIE in cookie else secrets.token_urlsafe(24)
        field = html('<input type=hidden name=csrfmiddlewaretoken value="{}">', token)
        viewer = Viewer(not self.read_only, field, "celery actions dashboard")
        headers = [("Set-Cookie", f"{COOKIE}={token}; Path=/; SameSite=Strict; HttpOnly")]
        if path.startswith("/static/"):
            found = asset(path.removeprefix("/static/"))
            if found is None:
                return self._text(start, "404 Not Found", "no such file")
            start("200 OK", [("Content-Type", found[1])])
            return [found[0]]
        if method == "POST" and path == "/operate/":
            return self._operate(environ, start, token, cookie)
        if path == "/live/":
            if query.get("page") not in PAGES:
                return self._text(start, "404 Not Found", "no such page")
            live = LiveRegions(self.dashboard, query["page"], query, viewer)
            start("200 OK", [("Content-Type", "text/event-stream"), ("Cache-Control", "no-store")])
            return live.frames()
        message = query.get("msg", "")
        d = self.dashboard
        pages: dict[str, Callable[[], Html | None]] = {
            "/": lambda: d.overview(viewer, message),
            "/queues/": lambda: d.queues(viewer, message),
            "/list/": lambda: ActionPages(d, viewer).listing(query, message),
            "/action/": lambda: ActionPages(d, viewer).detail(query.get("id", ""), message),
            "/confirm/": lambda: ActionPages(d, viewer).confirm(query),
        }
        render = pages.get(path)
        body = None if render is None else render()
        if body is None:
            return self._text(start, "404 Not Found", "not found")
        start("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                         ("Cache-Control", "no-store"), *headers])  # fmt: skip
        return [body.encode()]

    def _operate(
        self, environ: dict[str, Any], start: StartResponse, token: str, cookie: SimpleCookie
    ) -> Iterable[bytes]:
        if self.read_only:
            return self._text(start, "403 Forbidden", "this dashboard is read-only")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        form = dict(parse_qsl(environ["wsgi.input"].read(length).decode()))
        sent = form.pop("csrfmiddlewaretoken", "")
        if COOKIE not in cookie or not hmac.compare_digest(sent, token):
            return self._text(start, "403 Forbidden", "CSRF check failed")
        try:
            message, where = operate(self.dashboard.runtime, form)
        except OperationRefused as exc:
            return self._text(start, "400 Bad Request", str(exc))
        joiner = "&" if "?" in where else "?"
        start("303 See Other", [("Location", f"/{where}{joiner}msg={quote(message)}")])
        return [b""]

    @staticmethod
    def _text(start: StartResponse, status: str, text: str) -> Iterator[bytes]:
        start(status, [("Content-Type", "text/plain; charset=utf-8")])
        yield text.encode()


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(runtime: Runtime, host: str, port: int, read_only: bool) -> None:
    """Serve the dashboard until interrupted."""
    server = make_server(host, port, DashboardApp(runtime, read_only), _Server, _Quiet)
    with server:
        server.serve_forever()
