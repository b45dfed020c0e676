"""The actions pages: the filtered list (search by id, cursor paging, counts), one
action's timeline, and the confirmation of an operation on everything a filter matches."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..core.protocol import ActionStatus, Field
from ..redis.listing import ActionFilter
from .html import Html, html, join
from .layout import Viewer, duration, page, status_badge, url, when
from .pages import WINDOWS, Query, parse_filter

if TYPE_CHECKING:
    from .pages import Dashboard

FILTER_KEYS = ("status", "action", "queue", "window")
BULK_OPS = {
    "cancel": (
        (ActionStatus.SCHEDULED, ActionStatus.WAITING, ActionStatus.RETRYING),
        "Cancel",
    ),
    "retry": (
        (
            ActionStatus.SCHEDULED,
            ActionStatus.RETRYING,
            ActionStatus.FAILED,
            ActionStatus.CANCELLED,
        ),
        "Retry now",
    ),
}
"""What an operation on a filter applies to: the statuses it can change, and its label."""


def bulk_filter(op: str, f: ActionFilter) -> ActionFilter | None:
    """The part of ``f`` an operation applies to (its statuses among the filter's), or
    None when it applies to none of them."""
    eligible = BULK_OPS[op][0]
    statuses = tuple(s for s in f.covered if s in eligible)
    if not statuses:
        return None
    return ActionFilter(statuses, f.action, f.queue, f.since_ms, f.until_ms)


class ActionPages:
    """The actions list, one action, and the bulk confirmation."""

    def __init__(self, dashboard: Dashboard, viewer: Viewer) -> None:
        self.d = dashboard
        self.viewer = viewer

    # -- the list ----------------------------------------------------------------------

    def listing(self, query: Query, message: str = "") -> Html:
        d = self.d
        kept = {k: query[k] for k in FILTER_KEYS if query.get(k)}
        live = d._live("list", {**kept, "after": query.get("after", ""), "id": query.get("id", "")})
        body = html(
            '{form}<section id="live-list">{table}</section>',
            form=self._form(query),
            table=self.table(query),
        )
        return page(d.base, "Actions", body, self.viewer, live, "list/", message)

    def _form(self, query: Query) -> Html:
        d = self.d
        statuses = join(
            html(
                '<option value="{v}"{sel}>{v}</option>',
                v=s.value,
                sel=Html(" selected") if query.get("status") == s.value else "",
            )
            for s in ActionStatus
        )
        names = join(
            html(
                '<option value="{v}"{sel}>{v}</option>',
                v=n,
                sel=Html(" selected") if query.get("action") == n else "",
            )
            for n in d.index.action_names()
        )
        queues = join(html('<option value="{}">', n) for n in d.index.queue_names(200))
        windows = join(
            html(
                '<option value="{v}"{sel}>last {v}</option>',
                v=w,
                sel=Html(" selected") if query.get("window") == w else "",
            )
            for w in WINDOWS
        )
        return html(
            '<form class=filters method=get action="{action}">'
            "<label>status <select name=status><option value=''>all</option>{statuses}"
            "</select></label>"
            "<label>action <select name=action><option value=''>all</option>{names}"
            "</select></label>"
            '<label>queue <input name=queue list=queue-names value="{queue}" size=16>'
            "<datalist id=queue-names>{queues}</datalist></label>"
            "<label>changed <select name=window><option value=''>any time</option>{windows}"
            "</select></label>"
            '<label>id <input name=id value="{id}" size=24 placeholder="search by id"></label>'
            "<button>Filter</button></form>",
            action=d.base + "list/",
            statuses=statuses,
            names=names,
            queue=query.get("queue", ""),
            queues=queues,
            windows=windows,
            id=query.get("id", ""),
        )

    def table(self, query: Query) -> Html:
        """The live region of the list: count, rows, paging and the bulk operations."""
        d = self.d
        wanted = query.get("id", "").strip()
        kept = {k: query[k] for k in FILTER_KEYS if query.get(k)}
        if wanted:
            record = d.runtime.store.record(wanted)
            rows: list[tuple[dict[str, str], int | None]] = []
            if record is not None:
                rows.append((record, None))
            summary = html("{} for id <code>{}</code>", "1 action" if rows else "No action", wanted)
            paging: Html = Html("")
        else:
            f = parse_filter(query)
            found = d.index.page(f, d.cursor(query))
            rows = [(row.record, row.entered_ms) for row in found.rows]
            count = d.index.count(f)
            summary = html("{}{} matching", "" if count.exact else "at least ", f"{count.value:,}")
            newer = html('<a href="{}">newest</a>', url(d.base, "list/", kept))
            older = (
                html(
                    ' · <a rel=next href="{}">older →</a>',
                    url(d.base, "list/", {**kept, "after": found.next.encode()}),
                )
                if found.next
                else ""
            )
            paging = html("<p class=paging>{}{}</p>", newer, older)
        body = join(self._row(record, entered) for record, entered in rows)
        return html(
            "<p class=summary id=summary>{summary}</p>{bulk}<table class=actions>"
            "<thead><tr><th>id</th><th>action</th><th>status</th><th>queue</th>"
            "<th>attempts</th><th>enqueued</th><th>since</th><th>reason / error</th></tr>"
            "</thead><tbody>{body}</tbody></table>{paging}",
            summary=summary,
            bulk=self._bulk_links(kept) if not wanted else "",
            body=body or html("<tr><td colspan=8>No actions.</td></tr>"),
            paging=paging,
        )

    def _row(self, record: dict[str, str], entered_ms: int | None) -> Html:
        d = self.d
        info = d.info(record)
        since = entered_ms or record.get(Field.FINISHED_AT) or record.get(Field.CREATED_AT)
        queue = f"{info.queue}" if info.queue else "-"
        return html(
            '<tr data-id="{id}"><td><a href="{href}">{id}</a></td><td>{action}</td>'
            "<td>{status}</td><td>{queue}</td><td>{attempts}</td><td>{created}</td>"
            "<td>{since}</td><td class=why>{why}</td></tr>",
            id=info.id,
            href=url(d.base, "action/", {"id": info.id}),
            action=info.action,
            status=status_badge(info.status.value),
            queue=queue,
            attempts=info.attempts,
            created=when(record.get(Field.CREATED_AT)),
            since=when(since),
            why=info.error or info.reason,
        )

    def _bulk_links(self, kept: Mapping[str, str]) -> Html:
        if not self.viewer.can_operate:
            return Html("")
        return html(
            "<p class=bulk>{}</p>",
            join(
                html(
                    '<a class=button href="{}">{} all matching…</a>',
                    url(self.d.base, "confirm/", {**kept, "op": op}),
                    label,
                )
                for op, (_, label) in BULK_OPS.items()
            ),
        )

    # -- one action --------------------------------------------------------------------

    def detail(self, action_id: str, message: str = "") -> Html | None:
        d = self.d
        if d.runtime.store.record(action_id) is None:
            return None
        body = html('<section id="live-action">{}</section>', self.detail_body({"id": action_id}))
        live = d._live("action", {"id": action_id})
        return page(d.base, f"Action {action_id}", body, self.viewer, live, "list/", message)

    def detail_body(self, query: Query) -> Html:
        d = self.d
        action_id = query.get("id", "")
        record = d.runtime.store.record(action_id)
        if record is None:
            return html("<p>No action <code>{}</code> (past its retention?).</p>", action_id)
        info = d.info(record)
        fields = [
            ("action", info.action),
            ("status", status_badge(info.status.value)),
            ("reason", info.reason or "-"),
            ("queue", f"{info.queue} (limit {info.max_concurrency})" if info.queue else "-"),
            ("priority", info.priority),
            ("attempts", f"{info.attempts} ({info.failures} failed)"),
            ("enqueued", when(record.get(Field.CREATED_AT))),
            ("start at", when(record.get(Field.START_AT))),
            ("next attempt", when(record.get(Field.NEXT_ATTEMPT_AT))),
            ("finished", when(record.get(Field.FINISHED_AT))),
            ("enqueued by", record.get(Field.IDENTITY) or "the server"),
        ]
        table = join(html("<tr><th>{}</th><td>{}</td></tr>", k, v) for k, v in fields)
        return html(
            "<table class=fields>{table}</table><h2>Params</h2><pre class=params>{params}</pre>"
            "{ops}<h2>Timeline</h2>{timeline}",
            table=table,
            params=d.params_text(record),
            ops=self._action_ops(info.id, info.status),
            timeline=self._timeline(record),
        )

    def _action_ops(self, action_id: str, status: ActionStatus) -> Html:
        if not self.viewer.can_operate:
            return Html("")
        buttons = []
        if status in (
            ActionStatus.SCHEDULED,
            ActionStatus.WAITING,
            ActionStatus.RETRYING,
            ActionStatus.RUNNING,
        ):
            buttons.append(html("<button name=op value=cancel>Cancel</button>"))
        if status in BULK_OPS["retry"][0]:
            buttons.append(html("<button name=op value=retry>Retry now</button>"))
        if not buttons:
            return Html("")
        return html(
            '<form method=post action="{}" class=ops>{}<input type=hidden name=id value="{}">'
            "{}</form>",
            self.d.base + "operate/",
            self.viewer.csrf_field,
            action_id,
            join(buttons),
        )

    def _timeline(self, record: dict[str, str]) -> Html:
        store = self.d.runtime.store
        entries: list[dict[str, Any]] = []
        for raw in store.client.lrange(store.keys.timeline(record["id"]), 0, -1):
            try:
                entries.append(json.loads(raw))
            except ValueError:
                continue
        attempts = int(record.get(Field.ATTEMPTS) or 0)
        if attempts and (not entries or int(entries[-1].get("n", 0)) < attempts):
            status = record.get(Field.STATUS, "")
            entries.append(
                {
                    "n": attempts,
                    "worker": record.get(Field.WORKER, ""),
                    "started_at": record.get(Field.STARTED_AT),
                    "ended_at": record.get(Field.FINISHED_AT) if status == "complete" else None,
                    "outcome": status,
                    "slot_wait": record.get(Field.SLOT_WAIT) or 0,
                }
            )
        if not entries:
            return html("<p>Not started yet.</p>")
        rows = []
        for e in entries:
            took = ""
            if e.get("started_at") and e.get("ended_at"):
                took = duration((float(e["ended_at"]) - float(e["started_at"])) / 1000)
            tb = e.get("traceback") or ""
            rows.append(
                html(
                    "<tr><td>{n}</td><td>{outcome}</td><td>{worker}</td><td>{start}</td>"
                    "<td>{took}</td><td>{wait}</td><td>{delay}</td><td class=error>{error}"
                    "{tb}</td></tr>",
                    n=e.get("n", "?"),
                    outcome=status_badge(str(e.get("outcome", ""))),
                    worker=e.get("worker", ""),
                    start=when(e.get("started_at")),
                    took=took or "-",
                    wait=duration(float(e.get("slot_wait") or 0) / 1000),
                    delay=duration(float(e["delay_ms"]) / 1000) if e.get("delay_ms") else "-",
                    error=e.get("error", ""),
                    tb=html("<details><summary>traceback</summary><pre>{}</pre></details>", tb)
                    if tb
                    else "",
                )
            )
        return html(
            "<table class=timeline><thead><tr><th>#</th><th>outcome</th><th>worker</th>"
            "<th>started</th><th>ran</th><th>waited for a slot</th><th>retry after</th>"
            "<th>error</th></tr></thead><tbody>{}</tbody></table>",
            join(rows),
        )

    # -- confirming an operation on a filter -------------------------------------------

    def confirm(self, query: Query) -> Html:
        d = self.d
        op = query.get("op", "")
        if op not in BULK_OPS or not self.viewer.can_operate:
            return page(
                d.base, "Nothing to confirm", html("<p>Unknown operation.</p>"), self.viewer
            )
        kept = {k: query[k] for k in FILTER_KEYS if query.get(k)}
        f = parse_filter(query)
        target = bulk_filter(op, f)
        count = None if target is None else d.index.count(target)
        label = BULK_OPS[op][1]
        shown = join(html("<li>{}: {}</li>", k, v) for k, v in kept.items()) or html(
            "<li>every action</li>"
        )
        statuses = "none" if target is None else ", ".join(s.value for s in target.statuses)
        value = 0 if count is None else count.value
        body = html(
            "<p>{label} <b id=confirm-count>{n:,}</b> action(s): those {statuses} among</p>"
            "<ul>{shown}</ul>"
            '<form method=post action="{post}">{csrf}<input type=hidden name=op value="bulk-{op}">'
            "{hidden}<button {disabled}>{label} {n:,} action(s)</button> "
            '<a href="{back}">back</a></form>',
            label=label,
            n=value,
            statuses=statuses,
            shown=shown,
            post=d.base + "operate/",
            csrf=self.viewer.csrf_field,
            op=op,
            hidden=join(
                html('<input type=hidden name="{}" value="{}">', k, v) for k, v in kept.items()
            ),
            disabled=Html("disabled") if not value else "",
            back=url(d.base, "list/", kept),
        )
        return page(d.base, f"{label}: confirm", body, self.viewer, "", "list/")
