"""The dashboard's pages: overview, queues, actions (filtered, searched, paged) and one
action's timeline. Each page is a frame around live regions (``<section id=...>``);
``regions()`` renders a page's regions alone, for the live stream."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from ..client.info import ActionInfo
from ..core.protocol import ActionStatus, Field
from ..redis.listing import ActionFilter, ActionIndex, Cursor, Row
from ..redis.views import active_queues, live_workers
from .html import Html, html, join
from .layout import Viewer, chart, duration, page, status_badge, status_tiles, url, when

if TYPE_CHECKING:
    from ..celery.runtime import Runtime

WINDOWS = {"5m": 300, "1h": 3600, "24h": 86400, "7d": 7 * 86400}
Query = Mapping[str, str]


def parse_filter(query: Query) -> ActionFilter:
    """The filter a query string asks for (unknown values are ignored)."""
    statuses = tuple(s for s in ActionStatus if s.value == query.get("status"))
    since = None
    window = WINDOWS.get(query.get("window", ""))
    if window:
        since = int(time.time() * 1000) - window * 1000
    return ActionFilter(statuses, query.get("action", ""), query.get("queue", ""), since)


class Dashboard:
    """Renders the pages of one environment; ``base`` is where they are mounted (ends with
    '/')."""

    def __init__(self, runtime: Runtime, base: str) -> None:
        self.runtime = runtime
        self.base = base
        self.index = ActionIndex(runtime.store)

    # -- overview ----------------------------------------------------------------------

    def overview(self, viewer: Viewer, message: str = "") -> Html:
        body = self._regions("overview", {})
        return page(self.base, "Overview", body, viewer, self._live("overview"), "", message)

    def _overview_counts(self, query: Query) -> Html:
        return html(
            "<div class=tiles>{}</div>", status_tiles(self.base, self.index.status_counts())
        )

    def _overview_chart(self, query: Query) -> Html:
        return chart(self.index.minutes(60))

    def _overview_workers(self, query: Query) -> Html:
        workers = live_workers(self.runtime.store)
        rows = join(
            html("<tr><td>{}</td><td>{} ago</td></tr>", w.name, duration(w.seconds_since_heartbeat))
            for w in workers
        )
        return html(
            "<h2>Workers</h2><table><thead><tr><th>worker</th><th>last heartbeat</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            rows or html("<tr><td colspan=2>No worker runs the pump.</td></tr>"),
        )

    # -- queues ------------------------------------------------------------------------

    def queues(self, viewer: Viewer, message: str = "") -> Html:
        body = self._regions("queues", {}, viewer)
        return page(self.base, "Queues", body, viewer, self._live("queues"), "queues/", message)

    def _queue_table(self, query: Query, viewer: Viewer) -> Html:
        store = self.runtime.store
        client, keys = store.client, store.keys
        overrides: dict[str, str] = client.hgetall(keys.group_overrides)  # type: ignore[assignment]
        paused: dict[str, str] = client.hgetall(keys.group_paused)  # type: ignore[assignment]
        found = {q.name: q for q in active_queues(store)}
        names = [*found, *sorted((set(overrides) | set(paused)) - set(found))]
        rows = []
        for name in names:
            q = found.get(name)
            holders = join(
                html(
                    '<li><a href="{}">{}</a> {} {} · lease {}</li>',
                    url(self.base, "action/", {"id": h.id}),
                    h.id,
                    status_badge(h.status),
                    h.worker or "",
                    when(h.lease_expires_at.timestamp() * 1000),
                )
                for h in (q.holders if q else [])
            )
            limit = overrides.get(name) or (str(q.limit) if q else "-")
            state = html("<span class='badge s-cancelled'>paused</span>") if name in paused else ""
            controls = self._queue_controls(name, name in paused, viewer)
            rows.append(
                html(
                    '<tr data-queue="{name}"><td><a href="{href}">{name}</a> {state}</td>'
                    "<td class=limit>{limit}{set_by}</td><td class=running>{running}</td>"
                    "<td class=waiting>{waiting}</td><td><ul class=holders>{holders}</ul></td>"
                    "<td>{controls}</td></tr>",
                    name=name,
                    href=url(self.base, "list/", {"queue": name}),
                    state=state,
                    limit=limit,
                    set_by=html(" <small>(operator)</small>") if name in overrides else "",
                    running=q.running if q else 0,
                    waiting=q.waiting if q else 0,
                    holders=holders,
                    controls=controls,
                )
            )
        return html(
            "<table class=queues><thead><tr><th>queue</th><th>limit</th><th>running</th>"
            "<th>waiting</th><th>slot holders (lease expiry)</th><th></th></tr></thead>"
            "<tbody>{}</tbody></table>",
            join(rows)
            or html("<tr><td colspan=6>No queue has running or waiting actions.</td></tr>"),
        )

    def _queue_controls(self, name: str, paused: bool, viewer: Viewer) -> Html:
        if not viewer.can_operate:
            return Html("")
        post = self.base + "operate/"
        toggle = "resume" if paused else "pause"
        return html(
            '<form method=post action="{post}" class=inline>{csrf}'
            '<input type=hidden name=queue value="{name}">'
            '<input type=number name=limit min=1 max=100 size=3 aria-label="limit of {name}">'
            "<button name=op value=limit>Set limit</button>"
            "<button name=op value=unlimit>Enqueues' limit</button>"
            '<button name=op value="{toggle}">{label}</button></form>',
            post=post,
            csrf=viewer.csrf_field,
            name=name,
            toggle=toggle,
            label=toggle.capitalize(),
        )

    # -- live regions ------------------------------------------------------------------

    def regions(self, name: str, query: Query, viewer: Viewer) -> dict[str, Html]:
        """Each live region of a page, rendered (the live stream sends those that
        changed)."""
        renderers = self._renderers(name, viewer)
        return {region: render(query) for region, render in renderers.items()}

    def _renderers(self, name: str, viewer: Viewer) -> dict[str, Callable[[Query], Html]]:
        from .actions import ActionPages

        if name == "overview":
            return {
                "live-counts": self._overview_counts,
                "live-chart": self._overview_chart,
                "live-workers": self._overview_workers,
            }
        if name == "queues":
            return {"live-queues": lambda q: self._queue_table(q, viewer)}
        pages = ActionPages(self, viewer)
        if name == "list":
            return {"live-list": pages.table}
        if name == "action":
            return {"live-action": pages.detail_body}
        raise KeyError(name)

    def _regions(self, name: str, query: Query, viewer: Viewer | None = None) -> Html:
        viewer = viewer or Viewer(False)
        return join(
            html('<section id="{}">{}</section>', region, body)
            for region, body in self.regions(name, query, viewer).items()
        )

    def _live(self, name: str, query: Query | None = None) -> str:
        return url(self.base, "live/", {"page": name, **(query or {})})

    # -- shared ------------------------------------------------------------------------

    def info(self, row: Row | dict[str, str]) -> ActionInfo:
        record = row.record if isinstance(row, Row) else row
        return ActionInfo.from_record(record)

    @staticmethod
    def params_text(record: Mapping[str, str]) -> str:
        try:
            return json.dumps(json.loads(record.get(Field.PARAMS) or "{}"), ensure_ascii=False)
        except ValueError:
            return record.get(Field.PARAMS) or ""

    @staticmethod
    def cursor(query: Query) -> Cursor | None:
        return Cursor.decode(query.get("after", ""))
