"""The worker bootstep: starts the pump in every worker's main process, after the pool."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from celery import Celery, bootsteps
from celery.signals import worker_ready
from celery.worker import state as worker_state

from ..core.protocol import TOKEN_HEADER
from ..redis import scripts
from ..redis.checks import check_redis
from .compat import patch_kombu
from .config import check_worker_settings, warn_all
from .control import install_revoke
from .pump import Pump
from .runtime import Runtime


def running_leases(runtime: Runtime) -> Iterator[tuple[str, str]]:
    """The (id, token) of each action this worker process's pool is running."""
    names = runtime.tasks
    for request in list(worker_state.active_requests):
        if request.name in names:
            token = request.request_dict.get(TOKEN_HEADER)
            if token is not None:
                yield request.id, str(token)


class ActionsStep(bootsteps.StartStopStep):  # type: ignore[misc]
    """Starts the pump in the worker's main process, after the pool."""

    label = "celery-actions"
    requires = ("celery.worker.components:Pool",)
    runtime: Runtime  # set on the subclass :func:`install` makes

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.pump: Pump | None = None

    def start(self, worker: Any) -> None:
        patch_kombu()
        runtime = self.runtime
        client = runtime.store.client
        problems = check_redis(client) + check_worker_settings(
            worker.app, runtime.settings.lease_timeout_s
        )
        warn_all(problems)
        scripts.ensure_loaded(client)
        install_revoke()
        self.pump = Pump(runtime, worker.hostname, lambda: running_leases(runtime))
        self.pump.start()

    def stop(self, worker: Any) -> None:
        # Called before the pool drains (this step requires the pool): the pump keeps
        # renewing the leases of running actions until the last one ends, then exits.
        if self.pump is not None:
            self.pump.drain()

    def terminate(self, worker: Any) -> None:
        # Cold shutdown (Celery calls this instead of stop): Celery has cancelled the running
        # requests already (ActionRequest.cancel dispatches their actions again once their
        # pool processes are gone); the pump renews what is left, then exits.
        if self.pump is not None:
            self.pump.drain()


def install(app: Celery, runtime: Runtime) -> None:
    """Add the bootstep to the app's workers, bound to this runtime."""
    step = type("ActionsStep", (ActionsStep,), {"runtime": runtime})
    app.steps["worker"].add(step)

    def on_worker_ready(sender: Any = None, **kwargs: Any) -> None:
        if getattr(sender, "app", None) is app:
            runtime.store.heartbeat(sender.hostname)

    worker_ready.connect(on_worker_ready, weak=False)
