"""``celery -A proj actions list|cancel|retry``: find actions by queue, action name or
status, cancel them (with a count first), run a failed one again.

These work with no worker running: they change the job records in Redis (the same Lua
state changes a handle makes) and tell the result backend. Flower hears of a cancel from
the next worker's pump (``P announce``).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime

import click
from rich.console import Console
from rich.table import Table

from ..celery import calls
from ..celery.runtime import Runtime
from ..core.protocol import ActionStatus, Field
from ..redis.views import JobRow, find_jobs
from ..web.operate import retry_now
from .common import runtime_of

CANCELLABLE = (
    ActionStatus.SCHEDULED,
    ActionStatus.WAITING,
    ActionStatus.RETRYING,
    ActionStatus.RUNNING,
)
_STATUS = click.Choice([s.value for s in ActionStatus])
_CANCELLABLE = click.Choice([s.value for s in CANCELLABLE])


def _select(
    runtime: Runtime,
    action_id: str | None,
    queue: str | None,
    action: str | None,
    statuses: tuple[str, ...],
) -> list[JobRow]:
    if action_id is not None:
        if queue or action or statuses:
            raise click.UsageError("give an id, or filters (--queue, --action, --status)")
        record = runtime.store.record(action_id)
        if record is None:
            raise click.ClickException(f"no action with id {action_id!r}")
        return [
            JobRow(action_id, record[Field.ACTION], record[Field.STATUS],
                   record.get(Field.QUEUE) or None, record.get(Field.REASON, ""), None)
        ]  # fmt: skip
    if not (queue or action or statuses):
        raise click.UsageError("give an id, or at least one of --queue, --action, --status")
    return list(find_jobs(runtime.store, queue=queue, action=action, statuses=statuses))


@click.command(name="list")
@click.option("--queue", help="Only actions of this queue (concurrency group).")
@click.option("--action", help="Only actions of this task name.")
@click.option("--status", "statuses", multiple=True, type=_STATUS, help="Only these statuses.")
@click.option("--limit", default=100, show_default=True, help="Show at most this many.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
@click.pass_context
def listing(
    ctx: click.Context, queue: str | None, action: str | None, statuses: tuple[str, ...],
    limit: int, as_json: bool,
) -> None:  # fmt: skip
    """Actions matching a queue, an action name or statuses (what `celery inspect
    scheduled` cannot show: scheduled and waiting actions wait in Redis)."""
    rows = list(find_jobs(runtime_of(ctx).store, queue=queue, action=action, statuses=statuses))
    if as_json:
        for row in rows[:limit]:
            due = None if row.due_at is None else row.due_at.isoformat()
            click.echo(json.dumps({**asdict(row), "due_at": due}))
        return
    table = Table("id", "action", "status", "queue", "due", "reason")
    for row in rows[:limit]:
        due = "-" if row.due_at is None else row.due_at.isoformat(timespec="seconds")
        table.add_row(row.id, row.action, row.status, row.queue or "-", due, row.reason or "-")
    console = Console()
    console.print(table)
    console.print(f"{len(rows)} action(s)" + (f", {limit} shown" if len(rows) > limit else ""))


@click.command()
@click.argument("action_id", required=False)
@click.option("--queue", help="Every action of this queue (concurrency group).")
@click.option("--action", help="Every action of this task name.")
@click.option("--status", "statuses", multiple=True, type=_CANCELLABLE,
              help="Only these statuses (default: all that can be cancelled).")  # fmt: skip
@click.option("--terminate", is_flag=True, help="Also stop running ones (Celery's revoke).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def cancel(
    ctx: click.Context, action_id: str | None, queue: str | None, action: str | None,
    statuses: tuple[str, ...], terminate: bool, yes: bool,
) -> None:  # fmt: skip
    """Cancel one action by id, or every action matching a queue, an action name or a
    status. A running one is not interrupted (it is not retried) unless --terminate."""
    runtime = runtime_of(ctx)
    rows = [
        row
        for row in _select(runtime, action_id, queue, action, statuses)
        if row.status in CANCELLABLE
    ]
    counts = Counter(row.status for row in rows)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"
    click.echo(f"{len(rows)} action(s) to cancel: {summary}")
    if not rows or not (yes or click.confirm("Cancel them?", default=False)):
        return
    outcomes: Counter[str] = Counter()
    running: list[str] = []
    for row in rows:
        outcome = runtime.revocation.cancel(row.id, "cancelled from the shell")
        outcomes[outcome] += 1
        if outcome == "running":
            running.append(row.id)
    if terminate and running:
        runtime.app.control.revoke(running, terminate=True)
    click.echo(
        f"cancelled {outcomes['cancelled']}; running, not retried"
        f"{' (terminating)' if terminate else ''} {outcomes['running']}; finished meanwhile "
        f"{outcomes['final'] + outcomes['missing']}"
    )


@click.command()
@click.argument("action_id")
@click.pass_context
def retry(ctx: click.Context, action_id: str) -> None:
    """Run a failed (or cancelled) action again, with a fresh retry budget."""
    runtime = runtime_of(ctx)
    record = runtime.store.record(action_id)
    if record is None:
        raise click.ClickException(f"no action with id {action_id!r}")
    status = record[Field.STATUS]
    if status not in (ActionStatus.FAILED, ActionStatus.CANCELLED):
        raise click.ClickException(f"action {action_id!r} is {status}: only a failed or "
                                   "cancelled action can run again")  # fmt: skip
    expires = calls.expires_at(calls.decode(record.get(Field.CELERY, "")))
    if expires is not None and expires <= datetime.now(UTC):
        raise click.ClickException(
            f"action {action_id!r} expired at {expires.isoformat()}: enqueue it anew"
        )
    if not retry_now(runtime, [action_id]):  # finished meanwhile, or gone
        now = runtime.store.record(action_id) or {}
        raise click.ClickException(
            f"action {action_id!r} is {now.get(Field.STATUS, 'missing')}: not run again"
        )
    now = runtime.store.record(action_id) or {}
    click.echo(f"action {action_id!r} runs again (status {now.get(Field.STATUS, '?')})")
