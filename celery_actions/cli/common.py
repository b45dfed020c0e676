"""What every ``celery -A proj actions`` command needs: the app's runtime."""

from __future__ import annotations

import click

from ..celery.runtime import Runtime


def runtime_of(ctx: click.Context) -> Runtime:
    """The runtime of the app given with ``-A`` (``Actions(app)`` registers it there)."""
    app = ctx.obj.app
    found = getattr(app, "celery_actions", None)
    if found is None:
        raise click.UsageError(
            f"app {app.main!r} has no Actions: create `actions = Actions(app)` in the module "
            "passed to -A"
        )
    runtime: Runtime = found.runtime
    return runtime
