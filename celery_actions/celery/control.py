"""Celery's ``revoke`` remote control command, for actions.

``celery control revoke <id>``, ``AsyncResult(id).revoke()`` and Flower's revoke button
broadcast ``revoke`` to every worker. For an action, Celery's own handling is not enough:
it only remembers the id in each worker's memory (for a message it may receive later),
while the action waits in Redis, holding its place and maybe a queue slot. So every worker
runs this command instead (a remote control command registered under the same name, the
extension point Celery documents for them), which for an action's id:

- cancels it in Redis at once when it has not started (scheduled, waiting, retrying): it
  never runs later, its slot goes to the next waiting action, the result backend says
  ``REVOKED`` and ``task-revoked`` is sent (by the one worker whose cancel took effect);
- for a running action, marks it not to be retried, and with ``terminate=True`` the worker
  running it stops it (prefork, gevent: it is then cancelled and its slot freed at once;
  a pool that cannot stop a task, threads or solo, logs that it runs to its end);
- does nothing for a finished one (a revoke does not undo an outcome).

Ids that are not actions (plain tasks, messages not adopted yet) go to Celery's command.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.utils.functional import maybe_list
from celery.worker import state as worker_state
from celery.worker.control import Panel, ok

from ..core.protocol import Field

logger = logging.getLogger("celery_actions")
_ORIGINAL = "_celery_actions_original"


def install_revoke() -> None:
    """Register the actions-aware ``revoke`` command in this worker process (once)."""
    original = Panel.data["revoke"]
    if getattr(original, _ORIGINAL, None) is not None:
        return

    def revoke(state: Any, task_id: Any, terminate: bool = False, signal: Any = None,
               **kwargs: Any) -> Any:  # fmt: skip
        ids = {str(i) for i in maybe_list(task_id) or []}
        facade = getattr(state.app, "celery_actions", None)
        ours = set() if facade is None else revoke_actions(facade.runtime, state, ids,
                                                            terminate, signal)  # fmt: skip
        rest = ids - ours
        if rest:
            original(state, sorted(rest), terminate, signal, **kwargs)
        return ok(f"tasks {sorted(ids)} flagged as revoked")

    setattr(revoke, _ORIGINAL, original)
    revoke.__doc__ = original.__doc__
    Panel.data["revoke"] = revoke


def revoke_actions(
    runtime: Any, state: Any, ids: set[str], terminate: bool, signal: Any
) -> set[str]:
    """Revoke the ids that are this app's actions; returns those ids."""
    store = runtime.store
    pipe = store.client.pipeline(transaction=False)
    ordered = sorted(ids)
    for job_id in ordered:
        pipe.hget(store.keys.job(job_id), Field.ACTION)
    ours = {job_id for job_id, action in zip(ordered, pipe.execute(), strict=True)
            if action in runtime.tasks}  # fmt: skip
    eventer = getattr(state.consumer, "event_dispatcher", None)
    for job_id in sorted(ours):
        outcome = runtime.revocation.cancel(job_id, "revoked", eventer=eventer)
        if outcome == "running" and terminate:
            _terminate(state, job_id, signal)
    return ours


def _terminate(state: Any, job_id: str, signal: Any) -> None:
    """Stop a running action if this worker runs it (its request then cancels it)."""
    for request in list(worker_state.active_requests):
        if request.id != job_id:
            continue
        try:
            request.terminate(state.consumer.pool, signal=signal)
        except NotImplementedError:
            logger.warning(
                "celery-actions: the %s pool cannot stop %s; it runs to its end and is not "
                "retried",
                type(state.consumer.pool).__module__.rsplit(".", 1)[-1], job_id,
            )  # fmt: skip
