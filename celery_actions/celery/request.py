"""ActionRequest: the worker-side request of an action message (Celery's custom request
class extension point), run in the worker's main process.

When a prefork pool child dies while running an action (killed, out of memory, a cold
shutdown), Celery requeues its message (``reject_on_worker_lost``); that message is stale
by then. The attempt itself is dispatched again at once under a new token, instead of
when its lease expires: the child is gone, so it no longer runs.
"""

from __future__ import annotations

import logging
from typing import Any

from billiard.exceptions import WorkerLostError
from celery.worker.request import Request

from ..core.protocol import TOKEN_HEADER

logger = logging.getLogger("celery_actions")


class ActionRequest(Request):  # type: ignore[misc]
    """A request whose lost attempt is dispatched again at once."""

    def on_failure(
        self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False
    ) -> Any:
        exc = getattr(exc_info, "exception", None)
        exc = getattr(exc, "exc", exc)  # billiard's ExceptionWithTraceback wraps it
        token = self.request_dict.get(TOKEN_HEADER)
        if isinstance(exc, WorkerLostError) and token is not None:
            try:
                redispatched = self.task.runtime.dispatcher.abandon([(self.id, str(token))])
            except Exception:
                logger.exception("celery-actions: could not dispatch %s again", self.id)
            else:
                if redispatched.ids:
                    logger.warning(
                        "celery-actions: the pool process running %s was lost; dispatched again",
                        self.id,
                    )
                for job_id in redispatched.failed:
                    self.task.backend.mark_as_failure(
                        job_id, exc, request=self._context, store_result=True
                    )
        return super().on_failure(exc_info, send_failed_event, return_ok)
