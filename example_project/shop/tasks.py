"""The beat tick: once a night, enqueue the report for the day that ended (its id is the
day, so a tick repeated by two beats still makes one report)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from example_project.celery_app import app


@app.task(name="example_project.shop.tasks.nightly_report_tick")
def nightly_report_tick() -> str:
    from .actions import actions, daily_report

    day = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    handle = actions.enqueue(daily_report, {"day": day}, id=f"report-{day}",
                             on_duplicate_id="ignore")  # fmt: skip
    return handle.id
