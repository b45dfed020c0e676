"""How the demo shows its actions: a live table on a terminal, plain lines elsewhere."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

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
ID_WIDTH = 20
ACTION_WIDTH = 26
QUEUE_WIDTH = 14
REASON_MIN_WIDTH = 20


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


def status_table(rows: Sequence[tuple[Tracked, ActionInfo]], title: str = "") -> Table:
    """One row per action, from its latest ``ActionInfo``."""
    table = Table(
        title=title or None, title_justify="left", caption=CAPTION, caption_justify="left"
    )
    table.add_column("id", no_wrap=True, overflow="ellipsis", max_width=ID_WIDTH)
    table.add_column("action", no_wrap=True, overflow="ellipsis", max_width=ACTION_WIDTH)
    table.add_column("priority", no_wrap=True)
    table.add_column("queue", no_wrap=True, overflow="ellipsis", max_width=QUEUE_WIDTH)
    table.add_column("status", no_wrap=True)
    table.add_column("att.", no_wrap=True, justify="right")
    table.add_column("reason / error", overflow="fold", min_width=REASON_MIN_WIDTH)
    now = datetime.now(UTC)
    for tracked, info in rows:
        queue = "-" if info.queue is None else f"{info.queue}/{info.max_concurrency}"
        table.add_row(
            short_id(info.id),
            tracked.label,
            Text(info.priority, style=PRIORITY_STYLE.get(info.priority, "")),
            queue,
            Text(info.status.value, style=STATUS_STYLE[info.status]),
            str(info.attempts),
            detail(info, now),
        )
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
