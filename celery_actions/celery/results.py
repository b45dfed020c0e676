"""Result metas written into a Redis result backend by ``finish.lua`` itself.

When the result backend is Celery's Redis backend on the same server and db as
celery-actions, the outcome of an attempt and its result meta are written in one atomic
call: no separate GET + SET + PUBLISH per task, and never a "complete" record whose
result is missing. The meta is built by Celery's own backend code (``encode_result``,
``_get_result_meta``, ``encode``), so ``AsyncResult``, Flower and ``result_extended``
readers see exactly what ``store_result`` would have written. Other backends (for example
``django-db``) are written through the backend after the Lua call.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, states
from celery.backends.redis import RedisBackend

from ..core.settings import redis_location


class ResultWriter:
    """Encodes result metas for ``finish.lua``."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    @classmethod
    def for_app(cls, app: Celery, redis_url: str) -> ResultWriter | None:
        """A writer, or None when the result backend is not Celery's Redis backend here."""
        backend = app.backend
        if type(backend) is not RedisBackend:
            return None
        params = backend.connparams
        if "path" in params:
            return None
        location = (str(params.get("host")), int(params.get("port", 6379)), int(params["db"]))
        if location != redis_location(redis_url):
            return None
        return cls(app)

    def encode(
        self, job_id: str, state: str, value: Any, traceback: str | None, request: Any
    ) -> tuple[str, Any, int]:
        """The backend key, the encoded meta and its expiry in ms (0: none)."""
        backend = self.app.backend
        meta = backend._get_result_meta(
            result=backend.encode_result(value, state),
            state=state,
            traceback=traceback,
            request=request,
        )
        meta["task_id"] = job_id
        expires = backend.failure_expires if state == states.FAILURE else backend.expires
        expires_ms = 0 if not expires else int(float(expires) * 1000)
        return backend.get_key_for_task(job_id).decode(), backend.encode(meta), expires_ms
