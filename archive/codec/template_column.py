"""A template column's lines, built only for the rows read (see :mod:`archive.codec.templates`).

The template decoder reads and checks everything (template ids, the variable columns, the
size lines would expand to) and hands over, per template, a ``%``-format and the argument
lists of its lines in line order.  A line is then one ``format % args``: a point read builds
one line, a full decode all of them template by template.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from archive.codec.lazy import LazyColumn

#: Per template: ``(format, argument lists)``, or ``(line, None)`` when the template has no
#: placeholder (then the format is the line itself and is used as is).
Form = tuple[Any, "list[list] | None"]


class TemplateColumn(LazyColumn):
    """Lines of template ``tids[j]`` at each row ``j``; ``rows_of[t]`` lists template ``t``'s
    rows in increasing order and ``form(t)`` renders its ``k``-th line (see :data:`Form`;
    every argument list of template ``t`` holds ``len(rows_of[t])`` values).  A form is
    built when a line of its template is first rendered, then kept."""

    __slots__ = ("_form", "_forms", "_rows_of", "_tids", "_within")

    def __init__(self, tids: np.ndarray, rows_of: list[np.ndarray],
                 form: Callable[[int], Form]) -> None:
        super().__init__(len(tids), call_rows=64)
        self._tids = tids
        self._rows_of = rows_of
        self._form = form
        self._forms: dict[int, Form] = {}
        self._within: np.ndarray | None = None  # each row's rank among its template's rows

    def _get(self, t: int) -> Form:
        f = self._forms.get(t)
        if f is None:
            f = self._forms[t] = self._form(t)
        return f

    def _line(self, t: int, k: int) -> Any:
        fmt, args = self._get(t)
        return fmt if args is None else fmt % tuple([a[k] for a in args])

    def _decode_all(self) -> np.ndarray:
        out = np.empty(self._n, dtype=object)
        for t, rows in enumerate(self._rows_of):
            c = len(rows)
            if not c:
                continue
            fmt, args = self._get(t)
            block = np.empty(c, dtype=object)
            block[:] = [fmt] * c if args is None else list(map(fmt.__mod__, zip(*args)))
            out[rows] = block
        return out

    def _render_one(self, j: int) -> Any:
        t = int(self._tids[j])
        return self._line(t, int(np.count_nonzero(self._tids[:j] == t)))

    def _render(self, rows: np.ndarray) -> np.ndarray:
        if self._within is None:
            within = np.empty(self._n, dtype=np.int64)
            for r in self._rows_of:
                within[r] = np.arange(len(r))
            self._within = within
        lines = [self._line(t, k) for t, k in zip(self._tids[rows].tolist(),
                                                  self._within[rows].tolist())]
        out = np.empty(len(rows), dtype=object)
        out[:] = lines
        return out
