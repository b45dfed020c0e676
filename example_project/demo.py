"""``python -m example_project.demo``: the shop, end to end, in under a minute.

Starts an embedded Redis (unless ``REDIS_URL`` is set), migrates the shop's database (a
fresh SQLite file, or PostgreSQL when ``DATABASE_URL`` is set), starts the flaky supplier
API and a real ``celery worker`` subprocess; enqueues a mix of actions (model actions on
products and orders, a named queue with a concurrency limit, receipts enqueued inside the
orders' transactions and one rolled back, retries, priorities, a schedule, an explicit id,
a cancellation, a failure); follows them until every one has finished; prints a summary
and stops everything.

On a terminal the actions are shown in a live table; otherwise (CI, ``| cat``) as one line
per change. Exits 0 when every action ended as expected, 1 otherwise (including when the
deadline, ``DEMO_DEADLINE`` seconds [60], passes first).
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.live import Live

from celery_actions import ActionCancelled, ActionInfo, ActionStatus
from celery_actions.cli.commands import progress_bar
from celery_actions.testing.embedded import EmbeddedRedis
from celery_actions.testing.processes import WorkerProcess

from .display import ProgressLines, status_table
from .supplier_api import SupplierAPI

if TYPE_CHECKING:
    from .scenario import Scenario, Tracked

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTBOX_DIR = Path(__file__).resolve().parent / "outbox"
REFRESH_S = 0.25
RESULT_TIMEOUT_S = 10.0
WORKER_THREADS = 4
LOG_TAIL_LINES = 40
BULK_EMAILS = 300

Rows = list[tuple["Tracked", ActionInfo]]


@dataclass(frozen=True, slots=True)
class Setup:
    """What the demo started, for the header and the summary."""

    redis_url: str
    redis_embedded: bool
    api: SupplierAPI
    worker: WorkerProcess
    outbox: Path
    database: str


def make_console() -> Console:
    """A console for stdout; 120 columns when it is not a terminal and COLUMNS is unset."""
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=120)
    return console


def clear_outbox(outbox: Path) -> int:
    """Remove the emails and reports of a previous run; returns how many files went."""
    stale = [*outbox.glob("*.eml"), *outbox.glob("reports/report-*.json")]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def start_services(stack: ExitStack, console: Console) -> Setup:
    """Start Redis, the supplier API and a worker; each is stopped when ``stack`` closes."""
    redis_url = os.environ.get("REDIS_URL", "")
    embedded = not redis_url
    if embedded:
        redis_url = stack.enter_context(EmbeddedRedis()).url
    api = stack.enter_context(SupplierAPI())
    outbox = Path(os.environ.get("OUTBOX_DIR") or DEFAULT_OUTBOX_DIR).resolve()
    outbox.mkdir(parents=True, exist_ok=True)
    cleared = clear_outbox(outbox)
    if cleared:
        console.print(f"[dim]cleared {cleared} files of a previous run from {outbox}[/]")
    # The demo process (which enqueues) and the worker read the same settings.
    os.environ.update(
        REDIS_URL=redis_url,
        SUPPLIER_API_URL=api.url,
        OUTBOX_DIR=str(outbox),
        ACTIONS_ENVIRONMENT="development",
        DJANGO_SETTINGS_MODULE="example_project.settings",
    )
    database = os.environ.get("DATABASE_URL", "")
    if not database:
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="shop-demo-"))
        database = os.environ["SQLITE_PATH"] = str(Path(folder) / "shop.sqlite3")
    with console.status("migrating the shop's database..."):
        migrate()
    worker = WorkerProcess(
        "example_project.celery_app",
        redis_url=redis_url,
        name=f"demo-{os.getpid()}@{socket.gethostname()}",
        env={"PYTHONPATH": _pythonpath()},
        concurrency=WORKER_THREADS,
        pool="threads",
        cwd=str(PROJECT_ROOT),
    )
    stack.callback(worker.stop)
    with console.status("starting a celery worker..."):
        worker.start()
    return Setup(redis_url, embedded, api, worker, outbox, database)


def migrate() -> None:
    """Set Django up, run the migrations and create the demo's products and customers."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from .scenario import seed

    seed()


def _pythonpath() -> str:
    current = os.environ.get("PYTHONPATH", "")
    return os.pathsep.join(p for p in (str(PROJECT_ROOT), current) if p)


def print_header(console: Console, setup: Setup) -> None:
    """Where everything runs."""
    config = setup.api.config
    console.print("[bold]celery-actions demo[/]: a shop with a flaky supplier")
    kind = "embedded" if setup.redis_embedded else "from REDIS_URL"
    console.print(f"  redis         {setup.redis_url} ({kind})")
    console.print(f"  database      {setup.database} (migrated)")
    console.print(
        f"  supplier API  {setup.api.url} ({config.failure_rate:.0%} HTTP 500, HTTP 429 over "
        f"{config.rate_limit_per_s} req/s, seed {config.seed})"
    )
    console.print(
        f"  worker        {setup.worker.name}: {WORKER_THREADS} threads, log {setup.worker.log}"
    )
    console.print(f"  outbox        {setup.outbox}")


def snapshot(tracked: Sequence[Tracked]) -> Rows:
    """Every tracked action with its latest record."""
    return [(t, t.handle.info()) for t in tracked]


def all_finished(rows: Rows) -> bool:
    """True once every action is failed, complete or cancelled."""
    return all(info.status.finished for _, info in rows)


def follow(console: Console, tracked: Sequence[Tracked], deadline_s: float) -> Rows:
    """Show the actions until all have finished or the deadline passes; the last snapshot."""
    started = time.monotonic()
    rows = snapshot(tracked)

    def title() -> str:
        done = sum(info.status.finished for _, info in rows)
        return f"{time.monotonic() - started:5.1f}s  {done}/{len(rows)} finished"

    def running() -> bool:
        return not all_finished(rows) and time.monotonic() - started < deadline_s

    if console.is_interactive:
        with Live(
            status_table(rows, title(), console.width), console=console, auto_refresh=False
        ) as live:
            while running():
                time.sleep(REFRESH_S)  # the display's refresh interval
                rows = snapshot(tracked)
                live.update(status_table(rows, title(), console.width), refresh=True)
        return rows
    progress = ProgressLines(console)
    progress.update(rows, 0.0)
    while running():
        time.sleep(REFRESH_S)  # the display's refresh interval
        rows = snapshot(tracked)
        progress.update(rows, time.monotonic() - started)
    console.print(status_table(rows, title(), console.width))
    return rows


def check_results(console: Console, scenario: Scenario, declined: type[Exception]) -> list[str]:
    """Show ``result()`` of a sync, the failed charge and the cancelled reminder."""
    problems: list[str] = []
    product = scenario.by_label("sync_product 101").handle
    try:
        console.print(f"  sync_product 101 result()  -> {product.result(RESULT_TIMEOUT_S)!r}")
        row = product.result(RESULT_TIMEOUT_S, select=["supplier_id", "name", "stock"])
        console.print(f"  ... result(select=[...])   -> {row!r}")
    except Exception as exc:
        problems.append(f"sync_product 101 result() raised {type(exc).__name__}: {exc}")
    charge = scenario.by_label("charge_card").handle
    try:
        value = charge.result(RESULT_TIMEOUT_S)
        problems.append(f"charge_card result() returned {value!r} instead of raising")
    except declined as exc:
        name = f"{type(exc).__module__}.{type(exc).__qualname__}"
        console.print(f"  charge_card result()       raised {name}: {exc}")
    except Exception as exc:
        problems.append(f"charge_card result() raised {type(exc).__name__}: {exc}")
    reminder = scenario.by_label("send_email fay@").handle
    try:
        reminder.result(RESULT_TIMEOUT_S)
        problems.append("the cancelled reminder's result() returned")
    except ActionCancelled as exc:
        console.print(f"  cancelled reminder result() raised ActionCancelled: {exc}")
    except Exception as exc:
        problems.append(f"the cancelled reminder's result() raised {type(exc).__name__}: {exc}")
    return problems


def start_order(rows: Rows, action: str) -> str:
    """The runs of one action in the order they started, with their priorities."""
    started = sorted(
        (info.started_at, tracked.label.rpartition(" ")[2].partition("@")[0], info.priority)
        for tracked, info in rows
        if info.action.endswith(f".{action}") and info.started_at is not None
    )
    return ", ".join(f"{label} ({priority})" for _, label, priority in started)


def summarize(
    console: Console, setup: Setup, scenario: Scenario, rows: Rows, declined: type[Exception]
) -> list[str]:
    """Print the outcome; returns what did not go as expected."""
    problems = [
        f"{tracked.label} ({info.id}) "
        + ("ended" if info.status.finished else "did not finish: still")
        + f" {info.status.value}, expected {tracked.expect.value}"
        + (f" (last error {info.error})" if info.error else "")
        for tracked, info in rows
        if info.status is not tracked.expect
    ]
    counts = Counter(info.status.value for _, info in rows)
    order = [s.value for s in ActionStatus]
    console.print(
        "[bold]statuses[/]  "
        + ", ".join(f"{name} {counts[name]}" for name in order if counts[name]),
        highlight=False,
    )
    emails = sorted(setup.outbox.glob("*.eml"))
    reports = sorted(setup.outbox.glob("reports/*.json"))
    console.print(f"[bold]outbox[/]    {setup.outbox}: {len(emails)} emails, {len(reports)} report")
    for report in reports:
        console.print(f"  {report.name}: {json.dumps(json.loads(report.read_text()))}")
    console.print(f"[bold]emails[/]    started in this order: {start_order(rows, 'send_email')}")
    answers = ", ".join(f"{n}x {code}" for code, n in sorted(setup.api.answers.items()))
    console.print(f"[bold]supplier[/]  answered {answers}")
    if all_finished(rows):
        console.print("[bold]results[/]")
        problems += check_results(console, scenario, declined)
    return problems


def bulk_newsletter(console: Console, run_id: str, count: int = BULK_EMAILS) -> list[str]:
    """Enqueue a newsletter to ``count`` readers in one call and wait with a progress bar."""
    from .celery_app import actions
    from .shop.actions import send_email

    readers = [{"to": f"reader{i}@example.com", "subject": "News"} for i in range(count)]
    began = time.monotonic()
    handles = actions.enqueue_many(send_email, readers, {"id": f"news-{run_id}",
                                                         "priority": "low"})  # fmt: skip
    enqueued_s = time.monotonic() - began
    console.print(
        f"bulk      enqueue_many of {count} emails (ids news-{run_id}-0..{count - 1}) "
        f"took {enqueued_s * 1000:.0f} ms",
        highlight=False,
    )
    failed = 0
    if console.is_interactive:
        with progress_bar(f"newsletter: {count} emails", count) as (bar, task):
            for outcome in handles.as_completed(timeout=RESULT_TIMEOUT_S * 3):
                failed += 0 if outcome.ok else 1
                bar.update(task, advance=1, failed=failed)
    else:
        marks = {count * q // 4 for q in (1, 2, 3, 4)}
        for done, outcome in enumerate(handles.as_completed(timeout=RESULT_TIMEOUT_S * 3), 1):
            failed += 0 if outcome.ok else 1
            if done in marks:
                console.print(f"  newsletter {done}/{count} sent, {failed} failed", highlight=False)
    console.print(
        f"bulk      {count} emails done in {time.monotonic() - began:.1f}s", highlight=False
    )
    return [f"{failed} newsletter emails failed"] if failed else []


def report_problems(console: Console, setup: Setup, problems: list[str]) -> None:
    """Say what went wrong, with the end of the worker's log."""
    console.print("[bold red]the demo did not end as expected:[/]")
    for problem in problems:
        console.print(f"  - {problem}", highlight=False, markup=False, soft_wrap=True)
    lines = setup.worker.output().splitlines()[-LOG_TAIL_LINES:]
    console.print(f"[dim]last lines of {setup.worker.log}:[/]")
    console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)


def run(console: Console, deadline_s: float) -> int:
    """The whole demo; returns the exit status."""
    begun = time.monotonic()
    with ExitStack() as stack:
        setup = start_services(stack, console)
        print_header(console, setup)
        # Imported only now: the app reads REDIS_URL when it is first imported.
        from .scenario import enqueue_mix
        from .shop.actions import PaymentDeclined

        run_id = uuid.uuid4().hex[:6]
        scenario = enqueue_mix(run_id)
        for note in scenario.notes:
            console.print(f"  {note}", highlight=False)
        rows = follow(console, scenario.tracked, deadline_s)
        if not all_finished(rows):
            console.print(f"[bold red]deadline of {deadline_s:g}s passed[/]")
        problems = summarize(console, setup, scenario, rows, PaymentDeclined)
        problems += bulk_newsletter(console, run_id)
        if problems:
            report_problems(console, setup, problems)
        with console.status("stopping the worker, the supplier API and Redis..."):
            stack.close()
    outcome = "[bold red]FAILED[/]" if problems else "[bold green]OK[/]"
    console.print(f"{outcome} in {time.monotonic() - begun:.1f}s")
    return 1 if problems else 0


def main() -> int:
    """Entry point of ``python -m example_project.demo``."""
    console = make_console()
    try:
        return run(console, float(os.environ.get("DEMO_DEADLINE") or 60))
    except KeyboardInterrupt:
        console.print("interrupted; everything started was stopped")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
