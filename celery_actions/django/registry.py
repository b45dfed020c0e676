"""Which actions a browser may enqueue: those declared with ``browser=True`` (or
``browser="app.permission"``), and those named in ``CELERY_ACTIONS_BROWSER_ACTIONS`` (a
list of names, or a dict of name to permission or None). A name is the task name, or its
last dotted part when no other browser action shares it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..celery.task import ActionTask
    from ..client.facade import Actions


class BrowserActions:
    """The browser actions of a facade."""

    def __init__(self, actions: Actions) -> None:
        self.actions = actions
        listed = actions.app.conf.get("actions_browser_actions") or {}
        self.listed: dict[str, str | None] = (
            dict(listed) if isinstance(listed, Mapping) else dict.fromkeys(listed)
        )

    def allowed(self) -> dict[str, ActionTask]:
        """Every browser action, by task name."""
        found = {}
        for name, task in self.actions.registered.items():
            if getattr(task, "browser", None) is not None or name in self.listed:
                found[name] = task
        return found

    def find(self, name: str) -> ActionTask | None:
        """The browser action of that name (full, or its last dotted part if unique)."""
        allowed = self.allowed()
        if name in allowed:
            return allowed[name]
        short = [t for n, t in allowed.items() if n.rpartition(".")[2] == name]
        return short[0] if len(short) == 1 else None

    def permission(self, task: ActionTask) -> str | None:
        """The Django permission enqueueing it needs, if any."""
        declared: Any = getattr(task, "browser", None)
        if isinstance(declared, str):
            return declared
        return self.listed.get(task.name)
