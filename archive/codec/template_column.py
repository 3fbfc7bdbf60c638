"""A template column's lines, built only for the rows read (see :mod:`archive.codec.templates`).

The template decoder reads and checks everything (template ids, the variable columns, the
size lines would expand to) but keeps the variable columns as they decode: int arrays, and
lazy columns for free text.  Per template it hands over (when a line of the template is first
read) a ``%``-format and the *sources* of its arguments; a line is one ``format % args``
where each argument is one value of a variable column.  A point read converts one value per
argument; a partial read only the values of its rows; a full decode converts every column
once and formats template by template.
"""
from __future__ import annotations

from collections.abc import Callable
from itertools import accumulate
from typing import Any

import numpy as np

from archive.codec.lazy import Column, LazyColumn, objects

#: Where the values of one argument slot of a template live: ``(column, base)``, ``column``
#: indexing the list of variable columns, each a list of one column, or of two for a digit
#: string (its widths, then its values), indexed alike; the template's ``k``-th line takes
#: index ``base + k`` when ``base`` is an int (the template's values are a run of the
#: column), else ``base[k]`` (an int64 array, one index per line).
Source = tuple[int, "int | np.ndarray"]
#: Per template: ``(format, sources)`` (one source per ``%`` argument group, in order), or
#: ``(line, None)`` when the template has no placeholder (the format is the line itself).
Form = tuple[Any, "list[Source] | None"]


class TemplateLines:
    """``lines(t)``: the positions of template ``t``'s lines, increasing (an int64 array).

    The first :attr:`FEW` templates asked get one scan of the ids each (a point read needs
    one or two); after that the lines are sorted by template once (stable) and every
    template's are a slice of that order (a full decode asks for all of them)."""

    __slots__ = ("_asked", "_counts", "_sorted", "_tids")
    FEW = 8

    def __init__(self, tids: np.ndarray, counts: list[int]) -> None:
        self._tids = tids
        self._counts = counts
        self._asked = 0
        #: (lines in template order, where each template's start), set at once: threads
        #: reading one column may race to build it, never see half of it.
        self._sorted: tuple[np.ndarray, list[int]] | None = None

    def __call__(self, t: int) -> np.ndarray:
        done = self._sorted
        if done is None:
            self._asked += 1
            if self._asked <= self.FEW:
                return np.flatnonzero(self._tids == t)
            done = self._sorted = (np.argsort(self._tids, kind="stable"),
                                   [0, *accumulate(self._counts)])
        order, starts = done
        return order[starts[t] : starts[t] + self._counts[t]]


class TemplateColumn(LazyColumn):
    """Lines of template ``tids[j]`` at each row ``j``; template ``t`` has ``counts[t]`` lines
    and ``form(t)`` renders them (see :data:`Form`; a source indexes only valid positions of
    its columns for ``k < counts[t]``).  ``columns`` are all the variable columns, for a full
    decode to materialise the lazy ones once.  A form is built when a line of its template is
    first rendered, then kept."""

    __slots__ = ("_columns", "_counts", "_form", "_forms", "_tids", "_within")

    def __init__(self, tids: np.ndarray, counts: np.ndarray, columns: list[list[Column]],
                 form: Callable[[int], Form]) -> None:
        super().__init__(len(tids), call_rows=64)
        self._tids = tids
        self._counts = counts
        self._columns = columns
        self._form = form
        self._forms: dict[int, Form] = {}
        self._within: np.ndarray | None = None  # each row's rank among its template's rows

    def _get(self, t: int) -> Form:
        f = self._forms.get(t)
        if f is None:
            f = self._forms[t] = self._form(t)
        return f

    def _line(self, t: int, k: int) -> Any:
        fmt, sources = self._get(t)
        if sources is None:
            return fmt
        args = []
        columns = self._columns
        for ci, base in sources:
            i = base + k if isinstance(base, int) else int(base[k])
            args.extend([col.item(i) for col in columns[ci]])
        return fmt % tuple(args)

    def _decode_all(self) -> np.ndarray:
        counts = self._counts.tolist()
        live = [t for t, c in enumerate(counts) if c]
        if len(live) == 1 and self._get(live[0])[1] is None:  # one line, repeated
            out = np.empty(self._n, dtype=object)
            out.fill(self._get(live[0])[0])
            return out
        lists = [[np.asarray(col).tolist() for col in cols] for cols in self._columns]
        lines: list = []  # template after template, each in line order
        for t in live:
            c = counts[t]
            fmt, sources = self._get(t)
            if sources is None:
                lines.extend([fmt] * c)
                continue
            args = []
            for ci, base in sources:
                if isinstance(base, int):
                    args.extend([v[base : base + c] for v in lists[ci]])
                else:
                    args.extend([np.asarray(col)[base].tolist() for col in self._columns[ci]])
            lines.extend(map(fmt.__mod__, zip(*args)))
        if len(live) == 1:  # every row is a line of this template: already in row order
            return objects(lines, self._n)
        out = np.empty(self._n, dtype=object)
        out[np.argsort(self._tids, kind="stable")] = objects(lines, self._n)
        return out

    def _render_one(self, j: int) -> Any:
        t = int(self._tids[j])
        return self._line(t, int(np.count_nonzero(self._tids[:j] == t)))

    def _render(self, rows: np.ndarray) -> np.ndarray:
        if self._within is None:
            tids = self._tids
            order = np.argsort(tids, kind="stable")
            starts = np.cumsum(self._counts) - self._counts
            within = np.empty(self._n, dtype=np.int64)
            within[order] = np.arange(self._n, dtype=np.int64) - starts[tids[order]]
            self._within = within
        lines = [self._line(t, k) for t, k in zip(self._tids[rows].tolist(),
                                                  self._within[rows].tolist())]
        out = np.empty(len(rows), dtype=object)
        out[:] = lines
        return out
