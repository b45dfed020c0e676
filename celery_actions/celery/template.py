"""JSON text with holes, filled by printf formatting: the fast way to build thousands of
Celery messages that differ in a few values."""

from __future__ import annotations

import json
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

HOLES = tuple(f"\x00hole{i}\x00" for i in range(7))
"""Markers of the values that vary, in a message given to :meth:`Template.of`. In a task
message: 0 id, 1 kwargsrepr, 2 delivery tag, 3 body, 4 root_id, 5 parent_id; in a sent
event body: 0 uuid, 1 kwargs, 2 clock, 3 timestamp, 4 root_id, 5 parent_id, 6 eta."""


def _holes(message: dict[str, Any]) -> tuple[str | int, ...]:
    """JSON text split into literal pieces and hole numbers."""
    parts: list[str | int] = [json.dumps(message)]
    for number, hole in enumerate(HOLES):
        marker = json.dumps(hole)
        split: list[str | int] = []
        for part in parts:
            if isinstance(part, int):
                split.append(part)
                continue
            for i, chunk in enumerate(part.split(marker)):
                if i:
                    split.append(number)
                if chunk:
                    split.append(chunk)
        parts = split
    return tuple(parts)


class Template:
    """JSON text with holes, filled by printf formatting: ``fmt % values``.

    ``bind`` fixes some holes (JSON text) or makes one hole repeat another, leaving a
    template whose remaining holes are filled in the order of their numbers.
    """

    __slots__ = ("_pick", "fmt", "holes", "pieces")

    def __init__(self, pieces: tuple[str | int, ...]) -> None:
        self.pieces = pieces
        self.fmt = "".join("%s" if isinstance(p, int) else p.replace("%", "%%") for p in pieces)
        order = tuple(p for p in pieces if isinstance(p, int))
        self.holes = tuple(sorted(set(order)))
        position = {hole: i for i, hole in enumerate(self.holes)}
        picks = [position[hole] for hole in order]
        getter = itemgetter(*picks) if picks else (lambda values: ())
        self._pick: Any = getter if len(picks) != 1 else (lambda values: (values[picks[0]],))

    @classmethod
    def of(cls, message: dict[str, Any]) -> Template:
        """Compile a message whose varying values are the ``HOLES`` markers."""
        return cls(_holes(message))

    def bind(self, values: dict[int, str], same: dict[int, int] | None = None) -> Template:
        """Fill the holes in ``values`` now; hole k of ``same`` repeats hole same[k]."""
        pieces: list[str | int] = []
        for piece in self.pieces:
            if isinstance(piece, int) and piece in values:
                piece = values[piece]
            elif isinstance(piece, int) and same and piece in same:
                piece = same[piece]
            if isinstance(piece, str) and pieces and isinstance(pieces[-1], str):
                pieces[-1] += piece
            else:
                pieces.append(piece)
        return Template(tuple(pieces))

    def fill(self, values: Sequence[str]) -> str:
        """The JSON text, given each remaining hole's JSON text in hole-number order."""
        return str(self.fmt % self._pick(values))


def json_str(text: str) -> str:
    """A JSON string literal, cheaply when nothing needs escaping."""
    if text.isprintable() and '"' not in text and "\\" not in text and text.isascii():
        return '"' + text + '"'
    return json.dumps(text)
