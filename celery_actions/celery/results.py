"""Result metas written into a Redis result backend by ``finish.lua`` itself.

When the result backend is Celery's Redis backend on the same server and db as
celery-actions, the outcome of an attempt and its result meta are written in one atomic
call: no separate GET + SET + PUBLISH per task, and never a "complete" record whose
result is missing. The meta is built by Celery's own backend code (``encode_result``,
``_get_result_meta``, ``encode``), so ``AsyncResult``, Flower and ``result_extended``
readers see what ``store_result`` would have written, less what a finished action needs
no second copy of: ``result_extended``'s name, args, kwargs, worker and queue (retries
only when there were any),
and ``date_done`` (the job record has them: ``AsyncResult.date_done`` is None), an empty
``children`` list and an empty ``traceback``; in JSON without spaces. Such a
meta expires with its record (``actions_retention_completed`` or ``_failed``), so that
``status()`` and ``result()`` never disagree. Other backends (for example ``django-db``)
are written through the backend after the Lua call, in full.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.backends.redis import RedisBackend
from kombu.utils.json import dumps as kombu_dumps

from ..core.settings import redis_location

EXTENDED = ("name", "args", "kwargs", "worker", "retries", "queue")
"""What ``result_extended`` adds to a meta: the job record holds it already (and the end
time, ``date_done``: its ``finished_at``)."""


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
        self,
        job_id: str,
        state: str,
        value: Any,
        traceback: str | None,
        request: Any,
        expires_ms: int,
    ) -> tuple[str, Any, int]:
        """The backend key, the compact encoded meta and its expiry in ms."""
        backend = self.app.backend
        meta = backend._get_result_meta(
            result=backend.encode_result(value, state),
            state=state,
            traceback=traceback,
            request=request,
        )
        retries = meta.get("retries")
        for name in (*EXTENDED, "date_done"):
            meta.pop(name, None)
        if retries:  # AsyncResult.retries and Flower show the retried count
            meta["retries"] = retries
        for name in ("children", "traceback"):
            if not meta.get(name):
                meta.pop(name, None)
        meta["task_id"] = job_id
        if backend.serializer == "json":
            # kombu's JSON without its spaces (any JSON reader decodes it the same)
            encoded: Any = kombu_dumps(meta, separators=(",", ":"))  # type: ignore[no-untyped-call]
        else:
            encoded = backend.encode(meta)
        return backend.get_key_for_task(job_id).decode(), encoded, expires_ms
