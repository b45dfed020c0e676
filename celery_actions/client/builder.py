"""JobBuilder: turns params into jobs ready to write, for one action and resolved options
(the hot loop of ``enqueue_many``)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..celery.envelopes import Envelopes, JobEnvelopes, Lineage
from ..celery.template import Template
from ..core.params import check_size
from ..core.resolve import ResolvedOptions
from ..redis.records import JobSpec, NewJob
from .identity import current_identity

if TYPE_CHECKING:
    from ..celery.task import ActionTask


def options_json(resolved: ResolvedOptions) -> str:
    """What the worker needs of the options, as stored in the job record."""
    return json.dumps({"retry": resolved.retry.to_json()}, separators=(",", ":"))


class JobBuilder:
    """Builds the jobs of one spec: params JSON and, on the Redis broker fast path, the
    Celery envelope and the ``task-sent`` event body."""

    __slots__ = (
        "_dump",
        "_envelopes",
        "_max_bytes",
        "_stamped",
        "spec",
        "start_at_ms",
    )

    def __init__(
        self,
        task: ActionTask,
        resolved: ResolvedOptions,
        envelopes: Envelopes | None,
        max_params_bytes: int,
        lineage: Lineage | None = None,
        carried: str = "",
        fast: bool = True,
    ) -> None:
        """``carried``: what the jobs' messages carry besides params (JSON); ``fast``:
        False when that is more than the fast path's envelope holds (then kombu
        publishes)."""
        self._dump = task.params_model.dump_json
        self._max_bytes = max_params_bytes
        celery_queue = resolved.celery_queue or ""
        route = None
        if envelopes is not None and fast:
            route = envelopes.route(task.name, celery_queue)
        self.spec = JobSpec(
            action=task.name,
            options_json=options_json(resolved),
            priority=resolved.priority.value,
            group=resolved.group or "",
            limit=resolved.max_concurrency,
            celery_queue=celery_queue,
            list_key="" if route is None else route.list_keys[resolved.priority],
            carried=carried,
            identity=current_identity(),
        )
        self.start_at_ms = resolved.start_at_ms
        self._envelopes: JobEnvelopes | None = None
        self._stamped: Template | None = None  # a batch's stamped sent-event template
        if route is not None and envelopes is not None:
            eta = None if resolved.start_at is None else resolved.start_at.isoformat()
            lineage = lineage or envelopes.lineage()
            self._envelopes = envelopes.for_jobs(route, resolved.priority, lineage, eta)

    def restamp(self) -> None:
        """Take the time and a clock tick for the sent events of the batch built next."""
        if self._envelopes is not None:
            self._stamped = self._envelopes.stamped()

    def build(self, job_id: str, params: Mapping[str, Any] | None) -> tuple[NewJob, str]:
        """Validate params; return the job and its sent event body ('' if none)."""
        params_json = self._dump(params)
        check_size(params_json, self._max_bytes, self.spec.action)
        if self._envelopes is None:
            return NewJob(job_id, self.spec, params_json, self.start_at_ms), ""
        token = secrets.token_hex(10)  # 80 random bits: no job's token tells another's
        envelope, event = self._envelopes.build(job_id, params_json, token, self._stamped)
        return NewJob(job_id, self.spec, params_json, self.start_at_ms, envelope, token), event
