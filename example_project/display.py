"""How the demo shows its actions: a live table on a terminal, plain lines elsewhere."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from rich.console import Console
from rich.table import Table
from rich.text import Text

from celery_actions import ActionInfo, ActionStatus

if TYPE_CHECKING:
    from .scenario import Tracked

STATUS_STYLE = {
    ActionStatus.SCHEDULED: "white",
    ActionStatus.WAITING: "blue",
    ActionStatus.RUNNING: "cyan",
    ActionStatus.RETRYING: "magenta",
    ActionStatus.FAILED: "bold red",
    ActionStatus.COMPLETE: "green",
    ActionStatus.CANCELLED: "yellow",
}
PRIORITY_STYLE = {"high": "bold", "default": "", "low": "dim"}
CAPTION = "queue: name/maxConcurrency; att.: attempts so far"
WIDE = 115
"""Consoles at least this wide get the id and priority columns."""
ID_WIDTH = 18
ACTION_WIDTH = 26
NARROW_ACTION_WIDTH = 22
QUEUE_WIDTH = 10


def short_id(action_id: str) -> str:
    """Random ids cut to their first 8 characters; readable explicit ids kept whole."""
    if len(action_id) == 32 and all(c in "0123456789abcdef" for c in action_id):
        return action_id[:8]
    return action_id


def _type(error_type: str | None) -> str:
    return (error_type or "?").rpartition(".")[2]


def detail(info: ActionInfo, now: datetime | None = None) -> str:
    """The reason column: why it waits, when it starts, or the last error."""
    now = now or datetime.now(UTC)
    status = info.status
    if status is ActionStatus.SCHEDULED and info.start_at is not None:
        seconds = (info.start_at - now).total_seconds()
        return f"starts in {seconds:.1f}s" if seconds > 0 else "due"
    if status in (ActionStatus.RETRYING, ActionStatus.FAILED) and info.error:
        return info.error
    if status is ActionStatus.COMPLETE and info.failures:
        return f"ok after {info.failures} failed (last {_type(info.error_type)})"
    if status is ActionStatus.RUNNING and info.failures:
        return f"last error {info.error}"
    if status is ActionStatus.WAITING and not info.reason:
        return "ready, waiting for a worker"
    return info.reason


def _fixed(
    table: Table, header: str, width: int, justify: Literal["left", "right"] = "left"
) -> None:
    table.add_column(header, width=width, no_wrap=True, overflow="ellipsis", justify=justify)


def status_table(
    rows: Sequence[tuple[Tracked, ActionInfo]], title: str = "", width: int = WIDE
) -> Table:
    """One row per action, from its latest ``ActionInfo``; ids and priorities need ``WIDE``."""
    wide = width >= WIDE
    table = Table(
        title=title or None,
        title_justify="left",
        caption=CAPTION if wide else f"{CAPTION}; {WIDE}+ columns also show ids and priorities",
        caption_justify="left",
        expand=True,
    )
    if wide:
        _fixed(table, "id", ID_WIDTH)
    _fixed(table, "action", ACTION_WIDTH if wide else NARROW_ACTION_WIDTH)
    if wide:
        _fixed(table, "priority", len("priority"))
    _fixed(table, "queue", QUEUE_WIDTH)
    _fixed(table, "status", len("cancelled"))
    _fixed(table, "att.", len("att."), justify="right")
    table.add_column("reason / error", ratio=1, overflow="fold")
    now = datetime.now(UTC)
    for tracked, info in rows:
        queue = "-" if info.queue is None else f"{info.queue}/{info.max_concurrency}"
        cells: list[str | Text] = [short_id(info.id)] if wide else []
        cells.append(tracked.label)
        if wide:
            cells.append(Text(info.priority, style=PRIORITY_STYLE.get(info.priority, "")))
        cells += [
            queue,
            Text(info.status.value, style=STATUS_STYLE[info.status]),
            str(info.attempts),
            detail(info, now),
        ]
        table.add_row(*cells)
    return table


class ProgressLines:
    """Plain progress for logs: one line each time an action changes status or reason."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._seen: dict[str, tuple[ActionStatus, int, str]] = {}

    def update(self, rows: Sequence[tuple[Tracked, ActionInfo]], elapsed_s: float) -> None:
        """Print what changed since the last call."""
        for tracked, info in rows:
            reason = info.reason if info.status is ActionStatus.WAITING else ""
            state = (info.status, info.attempts, reason)
            if self._seen.get(info.id) == state:
                continue
            self._seen[info.id] = state
            why = detail(info)
            self.console.print(
                f"{elapsed_s:6.1f}s  {tracked.label:<28} {info.status.value:<9} "
                f"attempt {info.attempts}" + (f"  {why}" if why else ""),
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
