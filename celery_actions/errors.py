"""The exceptions celery-actions raises.

One base class, a shallow tree::

    ActionsError
    ├── InvalidOptions (ValueError)      an enqueue option is unknown or out of range
    ├── InvalidParams (ValueError)       params do not fit the action's signature
    ├── DuplicateActionId (ValueError)   the id is taken and onDuplicateID is "error"
    ├── NotAnAction (TypeError)          enqueue was given something that is not an action
    ├── ActionNotFound (LookupError)     no action with that id (never a silent "pending")
    ├── ActionCancelled                  result() of a cancelled action
    ├── ActionTimeout (TimeoutError)     result() did not finish within its timeout
    ├── TooManyRequests                  over the enqueue rate limit; carries retry_after
    ├── ConfigurationError               a setting breaks a guarantee
    └── WorkerLost                       its worker died too often while running it

Errors that an action itself raised are re-raised by ``result()`` with their own type.
"""

from __future__ import annotations


class ActionsError(Exception):
    """Base class of every error celery-actions raises on its own account."""


class InvalidOptions(ActionsError, ValueError):
    """An enqueue option is unknown, malformed or out of range. The message names the field."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidParams(ActionsError, ValueError):
    """Params do not fit the action's signature. The message names the field."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class DuplicateActionId(ActionsError, ValueError):
    """An action with this id already exists and ``onDuplicateID`` is ``"error"``."""

    def __init__(self, action_id: str) -> None:
        super().__init__(
            f"an action with id {action_id!r} already exists; pass "
            "onDuplicateID='ignore' (on_duplicate_id='ignore') to get a handle to it instead"
        )
        self.action_id = action_id


class NotAnAction(ActionsError, TypeError):
    """``enqueue`` was given something that is not an action of this app."""


class ActionNotFound(ActionsError, LookupError):
    """No action with this id is known (never enqueued, or past its retention)."""


class ActionCancelled(ActionsError):
    """The action was cancelled before it could complete."""


class ActionTimeout(ActionsError, TimeoutError):
    """``result(timeout=...)`` ran out of time before the action finished."""


class TooManyRequests(ActionsError):
    """The enqueue rate limit is exceeded; try again after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConfigurationError(ActionsError):
    """A setting makes a guarantee impossible (for example an evicting Redis)."""


class WorkerLost(ActionsError):
    """The action's worker died too many times while running it (a poison message)."""
