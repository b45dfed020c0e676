"""Adoption at the door: a message for an action that carries no dispatch token.

Plain Celery (``send_task``, a beat process that does not import the action, another
service, an older producer) sends an action's message without this library. The worker
does not run it as it is: it records the action under the message's id, validates the
params (positional args map onto the signature by position), applies the action's
declared defaults (retries, queue limit, priority), keeps what the message carries (its
canvas, headers, expiry, priority and Celery queue) and enqueues it like
``actions.enqueue``. The action then runs from its own dispatch, with every guarantee;
the message itself is acknowledged and dropped. A message whose id is taken is dropped and
logged; one whose params do not fit fails as Celery fails a task (``InvalidParams`` in
the result backend, its error links called), with nothing recorded.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

from celery.exceptions import Ignore

from ..core.options import parse_options
from ..core.priority import REDIS_TRANSPORTS, priority_of_number
from ..core.protocol import EnqueueOutcome
from ..errors import DuplicateActionId, InvalidParams
from . import calls
from .config import broker_transport

if TYPE_CHECKING:
    from .task import ActionTask

logger = logging.getLogger("celery_actions")


def adopt(task: ActionTask, request: Any, args: Any, kwargs: Any) -> NoReturn:
    """Enqueue the action a tokenless message asks for; the message is dropped."""
    name, job_id = task.name, request.id
    try:
        params = task.params_model.validate(task.params_model.bind(args, kwargs))
    except InvalidParams as exc:
        logger.warning(
            "celery-actions: refused a message for %s[%s] sent without celery-actions: %s",
            name, job_id, exc,
        )  # fmt: skip
        raise
    options: dict[str, Any] = {"id": job_id, "on_duplicate_id": "ignore"}
    delivery = request.delivery_info or {}
    number = delivery.get("priority")
    transport = broker_transport(task.app)
    # kombu's Redis transport gives a message sent with no priority 0, its top list: there,
    # 0 means "none given" and the action's declared priority applies
    given = number != 0 or transport not in REDIS_TRANSPORTS
    if isinstance(number, int) and not isinstance(number, bool) and number >= 0 and given:
        options["priority"] = priority_of_number(number, transport).value
    routing_key = delivery.get("routing_key")
    if routing_key and routing_key in task.app.amqp.queues:
        options["celery_queue"] = routing_key
    carried = calls.of_request(request, datetime.now(UTC))
    try:
        _, outcome = task.submit(task, params, parse_options(options), carried, rate_limited=False)
    except DuplicateActionId:
        outcome = EnqueueOutcome.DUPLICATE
    if outcome is EnqueueOutcome.DUPLICATE:
        logger.warning(
            "celery-actions: dropped a message for %s[%s] sent without celery-actions: an "
            "action with this id exists",
            name, job_id,
        )  # fmt: skip
    else:
        logger.info(
            "celery-actions: adopted a message for %s[%s] sent without celery-actions (%s)",
            name, job_id, outcome.value,
        )  # fmt: skip
    raise Ignore()
