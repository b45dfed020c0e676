"""celery-actions: Gadget-style background actions for Celery.

Declare a function as an action, enqueue it with a schedule, a retry policy, a priority
and a named queue with a global ``maxConcurrency``, and follow it through a handle::

    actions = Actions(app)

    @actions.action
    def send_email(to: str, subject: str = "Welcome!") -> dict: ...

    handle = actions.enqueue(send_email, {"to": "ann@example.com"}, {"priority": "high"})
    handle.result(timeout=30)
"""

from .celery.task import ActionTask
from .client.facade import Actions
from .client.handles import BackgroundActionHandle
from .client.info import ActionInfo
from .core.options import QueueOption, RetryPolicy
from .core.priority import Priority
from .core.protocol import ActionStatus
from .errors import (
    ActionCancelled,
    ActionNotFound,
    ActionsError,
    ActionTimeout,
    ConfigurationError,
    DuplicateActionId,
    InvalidOptions,
    InvalidParams,
    TooManyRequests,
    WorkerLost,
)

__all__ = [
    "ActionCancelled",
    "ActionInfo",
    "ActionNotFound",
    "ActionStatus",
    "ActionTask",
    "ActionTimeout",
    "Actions",
    "ActionsError",
    "BackgroundActionHandle",
    "ConfigurationError",
    "DuplicateActionId",
    "InvalidOptions",
    "InvalidParams",
    "Priority",
    "QueueOption",
    "RetryPolicy",
    "TooManyRequests",
    "WorkerLost",
]
__version__ = "0.1.0"
