"""Params validation from the action's signature.

Params are the action's keyword arguments. A pydantic model is built once per action from
``inspect.signature``; enqueue validates against it (missing, unknown, wrong type) and
dumps the result in JSON mode (so the message is plain JSON, and a value that is not
JSON-serialisable is rejected here); the worker validates the JSON again before running.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic_core import PydanticSerializationError

from ..errors import InvalidParams


class ParamsModel:
    """Validates params for one action function."""

    __slots__ = ("_model", "_serializer", "_validator", "action_name", "fields")

    def __init__(self, fn: Callable[..., Any], action_name: str) -> None:
        self.action_name = action_name
        try:
            hints = get_type_hints(fn)
        except Exception:  # unresolvable forward references: fall back to Any
            hints = {}
        fields: dict[str, Any] = {}
        for name, param in inspect.signature(fn).parameters.items():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise TypeError(
                    f"action {action_name}: *args/**kwargs are not supported; "
                    "declare each param as a keyword argument"
                )
            if param.kind is param.POSITIONAL_ONLY:
                raise TypeError(f"action {action_name}: positional-only param {name!r}")
            annotation = hints.get(name, Any)
            default = ... if param.default is param.empty else param.default
            fields[name] = (annotation, default)
        self.fields = tuple(fields)
        self._model: type[BaseModel] = create_model(
            f"{action_name.rsplit('.', 1)[-1]}_params",
            __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True),
            **fields,
        )
        # pydantic-core directly: model_validate/model_dump_json cost 4x more per call.
        self._validator = self._model.__pydantic_validator__
        self._serializer = self._model.__pydantic_serializer__

    def validate(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """Validate params and return them as JSON-compatible values (for the message)."""
        model = self._parse(params)
        try:
            return model.model_dump(mode="json")
        except PydanticSerializationError as exc:
            field = self._unserialisable_field(model)
            raise InvalidParams(
                f"params of {self.action_name}: {field!r} is not JSON-serialisable ({exc}); "
                "pass plain data (ids, strings, numbers, lists, dicts)",
                field=field,
            ) from None

    def dump_json(self, params: Mapping[str, Any] | None) -> str:
        """Validate params and return them as compact JSON text (bulk enqueue's fast path)."""
        model = self._parse(params)
        try:
            return self._serializer.to_json(model).decode()
        except PydanticSerializationError:
            self.validate(params)  # raises with the field named
            raise

    def load(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Validate JSON params on the worker and return the Python values to call with."""
        model = self._parse(params)
        return {name: getattr(model, name) for name in self.fields}

    def _parse(self, params: Mapping[str, Any] | None) -> BaseModel:
        if params is None:
            params = {}
        elif type(params) is not dict:
            if not isinstance(params, Mapping):
                raise InvalidParams(
                    f"params of {self.action_name} must be a dict of keyword arguments, "
                    f"got {type(params).__name__}",
                    field=None,
                )
            params = dict(params)
        try:
            return self._validator.validate_python(params)  # type: ignore[no-any-return]
        except ValidationError as exc:
            bad_keys = [k for k in params if not isinstance(k, str)]
            if bad_keys:
                raise InvalidParams(
                    f"params of {self.action_name}: keys must be strings, got {bad_keys[0]!r}",
                    field=str(bad_keys[0]),
                ) from None
            raise self._explain(exc) from None

    def _explain(self, exc: ValidationError) -> InvalidParams:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        known = ", ".join(self.fields) or "(none)"
        if err["type"] == "missing":
            text = f"missing required param {field!r}"
        elif err["type"] == "extra_forbidden":
            text = f"unknown param {field!r}; {self.action_name} takes: {known}"
        else:
            text = f"param {field!r}: {err['msg']}; got {err.get('input')!r}"
        return InvalidParams(f"params of {self.action_name}: {text}", field=field)

    def _unserialisable_field(self, model: BaseModel) -> str:
        for name in self.fields:
            try:
                model.__pydantic_serializer__.to_python(model, mode="json", include={name})
            except PydanticSerializationError:
                return name
        return "?"
