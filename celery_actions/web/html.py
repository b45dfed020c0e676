"""Escaped HTML: every value put into markup is escaped unless it is :class:`Html` already.

``html("<td>{}</td>", value)`` escapes ``value`` (quotes too, so attributes are safe);
fragments built this way compose without being escaped twice. Nothing else in the
dashboard writes markup.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape as _escape
from string import Formatter
from typing import Any


class Html(str):
    """Markup that is safe to emit as it is."""

    __slots__ = ()


def escape(value: Any) -> Html:
    """``value`` as text in markup (Html is kept as it is)."""
    if isinstance(value, Html):
        return value
    return Html(_escape("" if value is None else str(value), quote=True))


class _Escaping(Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        return escape(format(value, format_spec) if format_spec else value)


_FORMATTER = _Escaping()


def html(template: str, *args: Any, **kwargs: Any) -> Html:
    """``template`` (trusted markup) with ``{}`` fields escaped."""
    return Html(_FORMATTER.format(template, *args, **kwargs))


def join(parts: Iterable[Any], sep: str = "") -> Html:
    """Fragments joined (each escaped unless Html)."""
    return Html(sep.join(escape(p) for p in parts))
