"""Model actions: ``@actions.model_action(Order)`` on ``def ship(record: Order, carrier: str)``.

A model action is enqueued with the record's id, as Gadget's are:
``actions.enqueue(ship, {"id": order.pk, "carrier": "ups"})`` (the instance is accepted
for ``id``). Its params are ``id`` (typed as the model's primary key) and the rest of the
function's signature, validated as a global action's are. On the worker the record is
loaded before the attempt counts as started: a missing one fails the action at once, not
retried (:class:`RecordNotFound`). The function then runs inside ``transaction.atomic()``;
with ``lock`` the record is loaded again there with ``select_for_update``:

- ``"update"`` (or ``True``): wait for the row's lock;
- ``"nowait"``: a locked row raises the database's error, so the attempt is retried;
- ``"skip_locked"``: a locked row skips the action (it completes, returning None).

SQLite has no row locks: there ``lock`` only takes effect as the transaction.

``handle.result(select=["id", "status", "customer__email"])`` returns those fields of the
record as it is after the action. ``actions.enqueue_many(ship, Order.objects.filter(...))``
streams the queryset's ids (item i gets the id ``<id>-<i>``); :func:`records` adds params.
"""

from __future__ import annotations

import functools
import inspect
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

from django.db import models, router, transaction
from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

from ..core.params import ParamsModel
from ..errors import InvalidOptions, InvalidParams

if TYPE_CHECKING:
    from ..celery.task import ActionTask
    from ..client.facade import Actions

logger = logging.getLogger("celery_actions")

Lock = Literal["update", "nowait", "skip_locked"] | bool | None
LOCKS = ("update", "nowait", "skip_locked")
PAGE = 2000
"""Ids read per query when streaming a queryset."""


class RecordNotFound(InvalidParams, LookupError):
    """A model action's record does not exist (it is not retried)."""


def _lock_mode(lock: Lock) -> str | None:
    if lock is None or lock is False:
        return None
    if lock is True:
        return "update"
    if lock not in LOCKS:
        raise InvalidOptions(
            f"model_action lock must be None, True or one of {', '.join(map(repr, LOCKS))}; "
            f"got {lock!r}",
            field="lock",
        )
    return lock


def _pk_type(model: type[models.Model]) -> Any:
    """The Python type a JSON id of this model validates to."""
    field = model._meta.pk
    while field is not None and field.is_relation:  # a one-to-one primary key
        field = field.target_field
    if isinstance(field, models.UUIDField):
        return uuid.UUID
    if isinstance(field, models.IntegerField | models.AutoField):
        return int
    return str


class ModelParams(ParamsModel):
    """A model action's params: ``id`` and the function's other parameters. On the worker,
    :meth:`load` replaces the id by the record (a missing record is not retried)."""

    __slots__ = ("model", "pass_as", "signature")

    def __init__(self, fn: Callable[..., Any], action_name: str, model: type[models.Model]):
        self.model = model
        signature = inspect.signature(fn)
        params = list(signature.parameters.values())
        if not params or params[0].kind not in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            raise TypeError(f"model action {action_name}: the first parameter takes the record")
        self.pass_as = params[0].name
        rest = params[1:]
        if any(p.name == "id" for p in rest):
            raise TypeError(f"model action {action_name}: 'id' is the record's id param")
        hints = _hints(fn)
        id_type = _id_type(model)

        def stub(**kwargs: Any) -> None: ...

        self.signature = signature.replace(
            parameters=[
                inspect.Parameter("id", inspect.Parameter.KEYWORD_ONLY, annotation=id_type),
                *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in rest),
            ]
        )
        """The params as a signature: ``id``, then the function's other parameters."""
        stub.__signature__ = self.signature  # type: ignore[attr-defined]
        stub.__annotations__ = {"id": id_type, **{p.name: hints.get(p.name, Any) for p in rest}}
        super().__init__(stub, action_name)

    def load(self, params: Mapping[str, Any]) -> dict[str, Any]:
        values = super().load(params)
        pk = values.pop("id")
        manager = self.model._default_manager
        record = manager.db_manager(router.db_for_read(self.model)).filter(pk=pk).first()
        if record is None:
            raise RecordNotFound(
                f"{self.action_name}: no {self.model._meta.label} with id {pk!r}", field="id"
            )
        values[self.pass_as] = record
        return values


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return dict(inspect.get_annotations(fn, eval_str=True))
    except Exception:  # unresolvable forward references: Any, as ParamsModel does
        return {}


def _id_type(model: type[models.Model]) -> type:
    """The type of a model action's ``id`` param: the primary key's, and an instance of the
    model is accepted for it (its pk is taken)."""
    base = _pk_type(model)
    convert = _instance_to_pk(model)

    class RecordId:
        @classmethod
        def __get_pydantic_core_schema__(
            cls, source: Any, handler: GetCoreSchemaHandler
        ) -> CoreSchema:
            return core_schema.no_info_before_validator_function(
                convert, handler.generate_schema(base)
            )

    RecordId.__name__ = RecordId.__qualname__ = f"{model.__name__}Id"
    return RecordId


def _instance_to_pk(model: type[models.Model]) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if isinstance(value, models.Model):
            if not isinstance(value, model):
                raise ValueError(f"a {type(value).__name__}, not a {model.__name__}")
            if value.pk is None:
                raise ValueError(f"an unsaved {model.__name__} (it has no id yet)")
            return value.pk
        return value

    return convert


class SelectRecord:
    """Reads fields of a model action's record (``result(select=...)``)."""

    def __init__(self, model: type[models.Model]) -> None:
        self.model = model

    def __call__(self, params: Mapping[str, Any], fields: Sequence[str]) -> dict[str, Any]:
        if isinstance(fields, str) or not fields:
            raise ValueError("select takes a list of field names, such as ['id', 'status']")
        pk = params.get("id")
        manager = self.model._default_manager.db_manager(router.db_for_read(self.model))
        row = manager.filter(pk=pk).values(*fields).first()
        if row is None:
            raise RecordNotFound(f"no {self.model._meta.label} with id {pk!r}", field="id")
        return {name: row[name] for name in fields}


def _runner(
    fn: Callable[..., Any], model: type[models.Model], pass_as: str, lock: str | None
) -> Callable[..., Any]:
    """The function the Celery task runs: the user's, in a transaction, with the lock."""

    @functools.wraps(fn)
    def run(*args: Any, **params: Any) -> Any:
        if args:  # called directly: ship(order, carrier="dhl")
            params[pass_as] = args[0]
        elif "id" in params:  # called directly: ship(id=order.pk, carrier="dhl")
            params[pass_as] = params.pop("id")
        record = params[pass_as]
        if not isinstance(record, model):
            record = model._default_manager.get(pk=record)
        database = router.db_for_write(model)
        with transaction.atomic(using=database):
            if lock is not None:
                locked = (
                    model._default_manager.db_manager(database)
                    .select_for_update(nowait=lock == "nowait", skip_locked=lock == "skip_locked")
                    .filter(pk=record.pk)
                    .first()
                )
                if locked is None:
                    exists = model._default_manager.db_manager(database).filter(pk=record.pk)
                    if lock == "skip_locked" and exists.exists():
                        logger.info("celery-actions: %s skipped: %r is locked", fn, record)
                        return None
                    raise RecordNotFound(
                        f"{model._meta.label} with id {record.pk!r} was deleted", field="id"
                    )
                record = locked
            params.pop(pass_as)
            return fn(record, **params)

    del run.__wrapped__  # ParamsModel must not see the user's signature through wraps
    return run


def declare_model_action(
    actions: Actions,
    model: type[models.Model],
    *,
    lock: Lock = None,
    name: str | None = None,
    celery_options: Mapping[str, Any] | None = None,
    options: Mapping[str, Any],
) -> Callable[[Callable[..., Any]], ActionTask]:
    """What ``Actions.model_action`` does (see the module docstring)."""
    if not (isinstance(model, type) and issubclass(model, models.Model)):
        raise TypeError(f"model_action takes a Django model class, got {model!r}")
    mode = _lock_mode(lock)
    from .apps import install

    install(actions)

    def decorate(fn: Callable[..., Any]) -> ActionTask:
        task_name = name or f"{fn.__module__}.{fn.__qualname__}"
        params_model = ModelParams(fn, task_name, model)
        runner = _runner(fn, model, params_model.pass_as, mode)
        runner.__signature__ = params_model.signature  # type: ignore[attr-defined]
        runner.__annotations__ = {}  # (the signature's annotations are the types)
        task = actions.action(name=task_name, celery_options=celery_options, **options)(runner)
        task.params_model = params_model  # loads the record on the worker
        task.select_record = SelectRecord(model)
        return task

    return decorate


class records(Sequence[dict[str, Any]]):  # a class that reads as a function
    """A queryset as ``enqueue_many`` items of a model action, read in pages of ids (never
    every row at once): ``actions.enqueue_many(ship, records(orders, carrier="ups"))``.

    The ids are counted first and read in primary-key order, page by page; a bare queryset
    given to ``enqueue_many`` is read the same way. Rows created meanwhile are left out;
    rows deleted meanwhile shift the pages (their actions fail with RecordNotFound).
    """

    def __init__(self, queryset: models.QuerySet[Any], /, **params: Any) -> None:
        self._ids = queryset.order_by("pk").values_list("pk", flat=True)
        self._params = params
        self._count = self._ids.count()
        self._page: list[Any] = []
        self._page_start = -1

    @property
    def model(self) -> type[models.Model]:
        """The queryset's model."""
        model: type[models.Model] = self._ids.model
        return model

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        if not 0 <= index < self._count:
            raise IndexError(index)
        start = index - index % PAGE
        if start != self._page_start:
            self._load(start)
        offset = index - start
        if offset >= len(self._page):
            raise InvalidParams(
                f"item {index}: the queryset has fewer rows than when it was counted "
                f"({self._count}); enqueue it again",
                field=f"[{index}].id",
            )
        return {**self._params, "id": self._page[offset]}

    def _load(self, start: int) -> None:
        if start == self._page_start + PAGE and self._page:
            page = list(self._ids.filter(pk__gt=self._page[-1])[:PAGE])
        else:
            page = list(self._ids[start : start + PAGE])
        self._page, self._page_start = page, start


def model_actions_of(actions: Actions, model: type[models.Model]) -> list[ActionTask]:
    """The model actions declared on ``actions`` for ``model``, by name."""
    found = [
        task
        for task in actions.runtime.tasks.values()
        if isinstance(task.params_model, ModelParams) and task.params_model.model is model
    ]
    return sorted(found, key=lambda task: str(task.name))


def takes_only_the_record(task: ActionTask) -> bool:
    """Whether every param but ``id`` has a default (so it can run from the admin)."""
    params = task.params_model
    if not isinstance(params, ModelParams):
        return False
    rest = list(params.signature.parameters.values())[1:]
    return all(p.default is not inspect.Parameter.empty for p in rest)
