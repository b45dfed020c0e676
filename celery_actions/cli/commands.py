"""``celery -A proj actions ...``: look at actions, queues and workers from the shell."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from ..client.bulk_handles import BulkHandles
from ..client.info import ActionInfo
from ..errors import ActionNotFound, ActionTimeout
from ..redis.views import SlotHolder, active_queues, live_workers
from .common import runtime_of


def _ago(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    seconds = (moment - datetime.now(UTC)).total_seconds()
    return f"in {seconds:.1f}s" if seconds >= 0 else f"{-seconds:.1f}s ago"


@click.group(name="actions")
def actions() -> None:
    """celery-actions: queues, actions and workers."""


@actions.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def queues(ctx: click.Context, as_json: bool) -> None:
    """Each active queue: its limit, running, waiting, and the holders of its slots."""
    found = active_queues(runtime_of(ctx).store)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "name": q.name,
                        "limit": q.limit,
                        "running": q.running,
                        "waiting": q.waiting,
                        "holders": [
                            {
                                "id": h.id,
                                "action": h.action,
                                "status": h.status,
                                "worker": h.worker,
                                "lease_expires_at": h.lease_expires_at.isoformat(),
                            }
                            for h in q.holders
                        ],
                    }
                    for q in found
                ],
                indent=2,
            )
        )
        return
    console = Console()
    if not found:
        console.print("no active queues")
        return
    table = Table("queue", "limit", "running", "waiting", "holder", "status", "worker", "lease")
    for q in found:
        holders: list[SlotHolder | None] = [*q.holders] or [None]
        for i, h in enumerate(holders):
            first = i == 0
            table.add_row(
                q.name if first else "",
                str(q.limit) if first else "",
                str(q.running) if first else "",
                str(q.waiting) if first else "",
                "-" if h is None else h.id,
                "-" if h is None else h.status,
                "-" if h is None or h.worker is None else h.worker,
                "-" if h is None else _ago(h.lease_expires_at),
            )
    console.print(table)


@actions.command()
@click.argument("action_id")
@click.pass_context
def show(ctx: click.Context, action_id: str) -> None:
    """One action's record, by id."""
    record = runtime_of(ctx).store.record(action_id)
    if record is None:
        raise click.ClickException(str(ActionNotFound(f"no action with id {action_id!r}")))
    info = ActionInfo.from_record(record)
    table = Table(show_header=False)
    for field in ActionInfo.__slots__:
        value = getattr(info, field)
        table.add_row(field, "-" if value is None or value == "" else str(value))
    Console().print(table)


@actions.command()
@click.pass_context
def workers(ctx: click.Context) -> None:
    """Workers running the pump, with their last heartbeat."""
    table = Table("worker", "last heartbeat")
    for worker in live_workers(runtime_of(ctx).store):
        table.add_row(worker.name, f"{worker.seconds_since_heartbeat:.1f}s ago")
    Console().print(table)


@actions.command()
@click.argument("base_id")
@click.option("--count", "-n", type=int, required=True, help="How many items the bulk had.")
@click.option("--timeout", type=float, default=None, help="Give up after this many seconds.")
@click.pass_context
def wait(ctx: click.Context, base_id: str, count: int, timeout: float | None) -> None:
    """Wait for a bulk enqueue (ids BASE_ID-0 .. BASE_ID-<count-1>) with a progress bar."""
    runtime = runtime_of(ctx)
    first = runtime.store.record(f"{base_id}-0")
    if first is None:
        raise click.ClickException(f"no action with id {base_id}-0")
    handles = BulkHandles(runtime, first["action"], base_id, count)
    failed = 0
    with progress_bar(f"waiting for {count} actions", count) as (bar, task):
        try:
            for outcome in handles.as_completed(timeout=timeout):
                failed += 0 if outcome.ok else 1
                bar.update(task, advance=1, failed=failed)
        except ActionTimeout as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"{count - failed} succeeded, {failed} failed or cancelled")
    if failed:
        ctx.exit(1)


@actions.command()
@click.option("--port", type=int, default=5556, show_default=True, help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--read-only", is_flag=True, help="Show, never cancel, retry or change queues.")
@click.pass_context
def dashboard(ctx: click.Context, port: int, host: str, read_only: bool) -> None:
    """Serve the Queues dashboard (no Django needed; it has no users: keep it on
    127.0.0.1 or behind your own authentication)."""
    from ..web.server import serve

    runtime = runtime_of(ctx)
    click.echo(
        f"Queues dashboard on http://{host}:{port}/ ({'read-only' if read_only else 'operator'})"
    )
    serve(runtime, host, port, read_only)


@contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator[tuple[Progress, TaskID]]:
    """A rich progress bar for a bulk wait (also used by the demo)."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("failed {task.fields[failed]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns) as bar:
        yield bar, bar.add_task(description, total=total, failed=0)


# the commands that act on actions, in their own module
from .control import cancel, listing, retry  # noqa: E402

actions.add_command(listing)
actions.add_command(cancel)
actions.add_command(retry)
