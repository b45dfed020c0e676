"""Params validation from the action's signature.

Params are the action's keyword arguments. A pydantic model is built once per action from
``inspect.signature``; enqueue validates against it (missing, unknown, wrong type) and
dumps the result in JSON mode (so the message is plain JSON, and a value that is not
JSON-serialisable is rejected here); the worker validates the JSON again before running.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic_core import PydanticSerializationError

from ..errors import InvalidParams

MAX_DEPTH = 64
"""How deep params may nest (arrays and objects)."""
INT_DIGITS_MAX = 4300
"""The longest int Python's json decodes on the worker (``sys.get_int_max_str_digits``)."""


class ParamsModel:
    """Validates params for one action function."""

    __slots__ = ("_model", "_serializer", "_validator", "action_name", "fields")

    def __init__(self, fn: Callable[..., Any], action_name: str, *, bound: bool = False) -> None:
        """``bound``: the function's first parameter is the task (``bind=True``), not a
        param."""
        self.action_name = action_name
        try:
            hints = get_type_hints(fn)
        except Exception:  # unresolvable forward references: fall back to Any
            hints = {}
        fields: dict[str, Any] = {}
        parameters = list(inspect.signature(fn).parameters.items())
        if bound:
            if not parameters:
                raise TypeError(f"action {action_name}: bind=True needs a first parameter (self)")
            parameters = parameters[1:]
        for name, param in parameters:
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
            __config__=ConfigDict(
                extra="forbid", arbitrary_types_allowed=True, ser_json_inf_nan="constants"
            ),
            **fields,
        )
        # pydantic-core directly: model_validate/model_dump_json cost 4x more per call.
        self._validator = self._model.__pydantic_validator__
        self._serializer = self._model.__pydantic_serializer__

    def bind(self, args: Any, kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
        """Positional args (a parent's result in a chain, a beat entry's ``args``) mapped
        onto the params by position, merged with the keyword ones (not validated yet)."""
        params: dict[str, Any] = dict(kwargs or {})
        if not args:
            return params
        if not isinstance(args, list | tuple):
            raise InvalidParams(
                f"params of {self.action_name}: positional args must be a list or tuple, "
                f"got {type(args).__name__}",
                field=None,
            )
        if len(args) > len(self.fields):
            raise InvalidParams(
                f"params of {self.action_name}: {len(args)} positional args given, it takes "
                f"{len(self.fields)} param(s): {', '.join(self.fields) or '(none)'}",
                field=None,
            )
        for name, value in zip(self.fields, args, strict=False):
            if name in params:
                raise InvalidParams(
                    f"params of {self.action_name}: param {name!r} given twice, by position "
                    "and by name",
                    field=name,
                )
            params[name] = value
        return params

    def validate(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """Validate params and return them as JSON-compatible values (for the message)."""
        result: dict[str, Any] = json.loads(self.dump_json(params))
        return result

    def dump_json(self, params: Mapping[str, Any] | None) -> str:
        """Validate params and return them as compact JSON text, refusing anything the
        worker could not decode back: non-finite floats, ints longer than Python decodes,
        nesting deeper than ``MAX_DEPTH``, text that is not Unicode, cycles."""
        model = self._parse(params)
        try:
            text: str = self._serializer.to_json(model).decode()
        except (PydanticSerializationError, ValueError, RecursionError):
            raise self._refuse(model, _serialisable, _NOT_SERIALISABLE) from None
        if "\ufffd" in text and _has_surrogate(params):  # pydantic replaces them in dict keys
            raise self._refuse(model, lambda t: "\ufffd" not in t, _NOT_SERIALISABLE)
        if ("NaN" in text or "Infinity" in text) and not _finite(text):
            raise self._refuse(model, _finite, "is not a finite number (NaN or infinity)")
        if len(text) > INT_DIGITS_MAX and _LONG_DIGITS.search(text) and not _decodable(text):
            raise self._refuse(model, _decodable, f"is an int of more than {INT_DIGITS_MAX} digits")
        if text.count("[") + text.count("{") > MAX_DEPTH and _depth(text) > MAX_DEPTH:
            raise self._refuse(
                model, lambda t: _depth(t) <= MAX_DEPTH, f"nests deeper than {MAX_DEPTH} levels"
            )
        return text

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

    def _refuse(self, model: BaseModel, fine: Callable[[str], bool], why: str) -> InvalidParams:
        """The error for the first param whose JSON is not ``fine``."""
        field = "?"
        for name in self.fields:
            try:
                one = self._serializer.to_json(model, include={name}).decode()
            except (PydanticSerializationError, ValueError, RecursionError):
                field = name
                break
            if not fine(one):
                field = name
                break
        return InvalidParams(f"params of {self.action_name}: {field!r} {why}", field=field)


def check_size(params_json: str, limit: int, action_name: str) -> None:
    """Refuse params whose JSON is longer than ``limit`` bytes (``actions_max_params_bytes``)."""
    if len(params_json) > limit // 4:
        size = len(params_json.encode())
        if size > limit:
            raise InvalidParams(
                f"params of {action_name} are {size} bytes of JSON, over the "
                f"actions_max_params_bytes limit of {limit}: pass ids and look records up in "
                "the action",
                field="params",
            )


_NOT_SERIALISABLE = (
    "is not JSON-serialisable (bytes that are not text, a lone surrogate, a cycle, or too "
    "deep); pass plain data (ids, strings, numbers, lists, dicts)"
)
_LONG_DIGITS = re.compile(r"\d{" + str(INT_DIGITS_MAX + 1) + ",}")
_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"')


class _Constant(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _Constant(name)


def _has_surrogate(value: Any, depth: int = 0) -> bool:
    """Whether a string in ``value`` (a key included) is not encodable Unicode."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return True
        return False
    if depth > MAX_DEPTH:
        return False
    if isinstance(value, Mapping):
        return any(
            _has_surrogate(k, depth + 1) or _has_surrogate(v, depth + 1) for k, v in value.items()
        )
    if isinstance(value, list | tuple | set | frozenset):
        return any(_has_surrogate(v, depth + 1) for v in value)
    return False


def _serialisable(text: str) -> bool:
    return True  # reached only for a param whose own JSON could be made


def _finite(text: str) -> bool:
    """No NaN or Infinity outside strings (pydantic writes them as JSON constants)."""
    try:
        json.loads(text, parse_constant=_reject_constant)
    except _Constant:
        return False
    except ValueError:  # another problem (a huge int): the next check names it
        return True
    return True


def _decodable(text: str) -> bool:
    """json.loads can read it back (Python refuses ints of more than 4300 digits)."""
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _depth(text: str) -> int:
    """How deep arrays and objects nest in a JSON text."""
    depth = deepest = 0
    for char in _STRINGS.sub('""', text):
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest
