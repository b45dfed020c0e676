"""The handles of a bulk enqueue, and waiting for all of them at once."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

from celery import states
from celery.exceptions import TaskRevokedError
from celery.exceptions import TimeoutError as CeleryTimeoutError
from celery.result import ResultSet

from ..errors import ActionCancelled, ActionTimeout
from .handles import BackgroundActionHandle

if TYPE_CHECKING:
    from ..celery.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Outcome:
    """One finished action of a bulk wait."""

    index: int
    handle: BackgroundActionHandle
    ok: bool
    value: Any
    """The return value when ``ok``, else the exception ``result()`` would raise."""


class BulkHandles(Sequence[BackgroundActionHandle]):
    """The handles of ``enqueue_many``, in order, made on demand (flat memory).

    Item i has the id ``<base>-<i>`` unless its own options gave it an id.
    """

    __slots__ = ("_base", "_count", "_overrides", "_runtime", "action")

    def __init__(
        self,
        runtime: Runtime,
        action: str,
        base: str,
        count: int,
        overrides: Mapping[int, str] | None = None,
    ) -> None:
        self._runtime = runtime
        self.action = action
        self._base = base
        self._count = count
        self._overrides = dict(overrides or {})

    def __repr__(self) -> str:
        return f"<BulkHandles {self.action} {self._base}-0..{self._count - 1}>"

    def __len__(self) -> int:
        return self._count

    @property
    def base(self) -> str:
        """The id prefix: item i is ``<base>-<i>`` unless it has its own id."""
        return self._base

    @property
    def overrides(self) -> Mapping[int, str]:
        """Items that have their own ids, by index."""
        return self._overrides

    def id(self, index: int) -> str:
        """The id of item ``index``."""
        if not 0 <= index < self._count:
            raise IndexError(index)
        return self._overrides.get(index) or f"{self._base}-{index}"

    @overload
    def __getitem__(self, index: int) -> BackgroundActionHandle: ...

    @overload
    def __getitem__(self, index: slice) -> list[BackgroundActionHandle]: ...

    def __getitem__(
        self, index: int | slice
    ) -> BackgroundActionHandle | list[BackgroundActionHandle]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        if index < 0:
            index += self._count
        return BackgroundActionHandle(self._runtime, self.action, self.id(index))

    def ids(self) -> Iterator[str]:
        """Every id, in order."""
        return (self.id(i) for i in range(self._count))

    def as_completed(
        self,
        timeout: float | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[Outcome]:
        """Yield each action's outcome as it finishes, within one overall ``timeout``.

        Waits on the result backend natively (one pub/sub subscription set on Redis; no
        polling of each handle). ``on_progress(done, total)`` is called after each one.
        Raises ActionTimeout when time runs out.
        """
        app = self._runtime.app
        index_of: dict[str, int] = {}
        repeats: dict[str, list[int]] = {}  # items whose id an earlier item has (one action)
        for i, task_id in enumerate(self.ids()):
            if task_id in index_of:
                repeats.setdefault(task_id, []).append(i)
            else:
                index_of[task_id] = i
        results = ResultSet([app.AsyncResult(i) for i in index_of])
        done = 0
        try:
            for task_id, meta in results.iter_native(timeout=timeout):
                for i in (index_of[task_id], *repeats.get(task_id, ())):
                    done += 1
                    yield _outcome(i, self[i], meta)
                    if on_progress is not None:
                        on_progress(done, self._count)
        except CeleryTimeoutError:
            raise ActionTimeout(
                f"{self._count - done} of {self._count} actions did not finish within {timeout}s"
            ) from None

    def results(
        self,
        timeout: float | None = None,
        *,
        return_exceptions: bool = False,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> list[Any]:
        """Every result in order, waiting at most ``timeout`` seconds in all.

        A failed action raises its error (after all have finished), unless
        ``return_exceptions``: then the error takes its place in the list.
        """
        values: list[Any] = [None] * self._count
        first_error: BaseException | None = None
        for outcome in self.as_completed(timeout, on_progress):
            values[outcome.index] = outcome.value
            if not outcome.ok and first_error is None:
                first_error = outcome.value
        if first_error is not None and not return_exceptions:
            raise first_error
        return values


def _outcome(index: int, handle: BackgroundActionHandle, meta: Any) -> Outcome:
    status = meta["status"]
    value = meta["result"]
    if status == states.SUCCESS:
        return Outcome(index, handle, True, value)
    if status == states.REVOKED or isinstance(value, TaskRevokedError):
        return Outcome(index, handle, False, ActionCancelled(f"action {handle.id!r} was cancelled"))
    return Outcome(index, handle, False, value)
