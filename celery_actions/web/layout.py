"""The page frame, the formatting of values, and the per-minute chart (inline SVG)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlencode

from ..core.protocol import ActionStatus, Stat
from ..redis.listing import Minute
from .html import Html, html, join

NAV = (("", "Overview"), ("queues/", "Queues"), ("list/", "Actions"))


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who looks: whether they may operate, and the hidden CSRF field their forms carry."""

    can_operate: bool
    csrf_field: Html = field(default_factory=lambda: Html(""))
    name: str = ""


def url(base: str, path: str = "", query: Mapping[str, object] | None = None) -> str:
    """A dashboard URL: ``base`` (ends with '/') + path + the non-empty query values."""
    items = {k: str(v) for k, v in (query or {}).items() if v not in (None, "")}
    return base + path + (("?" + urlencode(items)) if items else "")


def page(
    base: str,
    title: str,
    body: Html,
    viewer: Viewer,
    live: str = "",
    current: str = "",
    message: str = "",
) -> Html:
    """A whole page: head, navigation, the flash message, the body; ``live`` is the URL of
    the page's event stream (its regions are replaced as they change)."""
    nav = join(
        html(
            '<a href="{}"{}>{}</a>',
            base + path,
            Html(' class="on"') if path == current else "",
            label,
        )
        for path, label in NAV
    )
    flash = html('<p class="flash" role="status">{}</p>', message) if message else ""
    role = "operator" if viewer.can_operate else "read-only"
    return html(
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        "<title>{title} · Queues</title>"
        '<link rel=stylesheet href="{base}static/dashboard.css">'
        '<script type=module src="{base}static/dashboard.js"></script></head>'
        '<body data-live="{live}"><header><strong>Queues</strong><nav>{nav}</nav>'
        "<span class=who>{who} · {role} <span id=live-state class=state>live</span></span>"
        "</header><main><h1>{title}</h1>{flash}{body}</main></body></html>",
        title=title,
        base=base,
        live=live,
        nav=nav,
        who=viewer.name,
        role=role,
        flash=flash,
        body=body,
    )


def when(ms: int | float | str | None, now_ms: float | None = None) -> Html:
    """A time (ms since the epoch) as UTC, with how long ago or ahead."""
    if ms in (None, ""):
        return Html("-")
    ms = float(ms)
    now_ms = time.time() * 1000 if now_ms is None else now_ms
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    delta = (now_ms - ms) / 1000
    ago = f"{duration(abs(delta))} {'ago' if delta >= 0 else 'ahead'}"
    return html(
        '<time datetime="{}" title="{}">{}</time>',
        moment.isoformat(),
        ago,
        moment.strftime("%Y-%m-%d %H:%M:%S"),
    )


def duration(seconds: float) -> str:
    """``850 ms``, ``12.5 s``, ``4 min``, ``3.2 h``, ``2.0 d``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def status_badge(status: str) -> Html:
    """A status as a coloured label."""
    return html('<span class="badge s-{}">{}</span>', status, status)


def status_tiles(base: str, counts: Mapping[ActionStatus, int]) -> Html:
    """One tile per status, each a link to the actions of that status."""
    return join(
        html(
            '<a class="tile s-{s}" href="{href}"><span>{s}</span><b>{n:,}</b></a>',
            s=s.value,
            href=url(base, "list/", {"status": s.value}),
            n=counts.get(s, 0),
        )
        for s in ActionStatus
    )


SERIES = ((Stat.ENQUEUED, "enqueued"), (Stat.COMPLETE, "complete"), (Stat.FAILED, "failed"))


def chart(minutes: Sequence[Minute]) -> Html:
    """Enqueued, completed and failed per minute over the minutes given, as an SVG."""
    width, height, pad = 720, 160, 24
    peak = max([1, *(m.get(stat) for m in minutes for stat, _ in SERIES)])
    step = (width - 2 * pad) / max(1, len(minutes) - 1)
    lines = []
    for stat, name in SERIES:
        points = " ".join(
            f"{pad + i * step:.1f},{height - pad - m.get(stat) / peak * (height - 2 * pad):.1f}"
            for i, m in enumerate(minutes)
        )
        total = sum(m.get(stat) for m in minutes)
        lines.append(
            html(
                '<polyline class="line {}" points="{}"><title>{}: {} in the hour</title>'
                "</polyline>",
                name,
                points,
                name,
                f"{total:,}",
            )
        )
    legend = join(
        html(
            '<span class="key {}">{} {}</span>',
            name,
            name,
            f"{sum(m.get(stat) for m in minutes):,}",
        )
        for stat, name in SERIES
    )
    return html(
        '<figure class=chart><svg viewBox="0 0 {w} {h}" role=img '
        'aria-label="actions per minute, last hour">'
        '<line x1="{p}" y1="{b}" x2="{r}" y2="{b}" class=axis></line>'
        '<text x="{p}" y="14" class=peak>{peak:,} / min</text>{lines}</svg>'
        "<figcaption>per minute, last hour: {legend}</figcaption></figure>",
        w=width,
        h=height,
        p=pad,
        b=height - pad,
        r=width - pad,
        peak=peak,
        lines=join(lines),
        legend=legend,
    )
