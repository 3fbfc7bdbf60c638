"""Lazily decoded ``str``/``bytes`` columns: only the rows asked for become Python objects.

A :class:`LazyColumn` stands in for a decoded object array (see
:func:`archive.codec.registry.decode_values_lazy`).  Everything that can be checked about its
payload was checked when it was made, so reading it never finds a new defect; what is deferred
is building the Python objects.  It supports what readers do with a column array:

* ``len(col)``, ``col.dtype`` (object), ``col.shape``;
* ``col[a:b]`` / ``col[a:b:s]`` and ``col[idx]`` for an integer array (any order, repeats,
  negative indices as numpy) give a new object ``ndarray``; ``col[i]`` gives one value;
* ``col.materialize()`` / ``np.asarray(col)``: the whole column, decoded once and kept.

Partial renders cost more per row than one full render (a vectorised renderer has a fixed cost
per call), so a column keeps an account: each partial render adds its rows plus ``call_rows``
(what a call costs beyond its rows, in rows of a full decode, measured per encoding) and, once
the account would pass the column's length, the column is decoded whole instead; reads never
cost more than about twice one full decode.
A slice covering the whole column decodes it whole at once (full scans pay nothing extra).
Single rows are memoised, so re-reading a record of a cached group costs a dict lookup.
The state a column changes while read (memo, account, decoded values) is a cache that any
thread may fill: nothing a render needs is ever dropped.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, Final, Union

import numpy as np

from archive.errors import CorruptChunkError

#: What a decoder may hand a reader for one column.
Column = Union[np.ndarray, "LazyColumn"]
OBJECT: Final = np.dtype(object)
#: Exceptions a renderer may raise on malformed data; they become CorruptChunkError.
_DEFECTS: Final = (ValueError, TypeError, IndexError, OverflowError, UnicodeDecodeError,
                   MemoryError)


def objects(items: list, n: int | None = None) -> np.ndarray:
    """A 1-d object array of these items (never a 2-d array, whatever the items are)."""
    return np.fromiter(items, dtype=object, count=len(items) if n is None else n)


class LazyColumn(ABC):
    """A column of ``n`` str/bytes values built on demand (see the module docstring).

    Subclasses implement ``_decode_all()`` (all ``n`` values as an object array) and
    ``_render(rows)`` (the values at ``rows``, an int64 array of valid, non-negative indices
    in any order, as an object array), both consistent with the eager decode.
    """

    __slots__ = ("_call_rows", "_full", "_memo", "_n", "_spent")
    dtype: ClassVar[np.dtype] = OBJECT
    ndim: ClassVar[int] = 1

    def __init__(self, n: int, call_rows: int = 32) -> None:
        self._n = n
        self._call_rows = call_rows
        self._full: np.ndarray | None = None
        self._spent = 0
        self._memo: dict[int, Any] = {}

    @abstractmethod
    def _decode_all(self) -> np.ndarray: ...

    @abstractmethod
    def _render(self, rows: np.ndarray) -> np.ndarray: ...

    def __len__(self) -> int:
        return self._n

    @property
    def shape(self) -> tuple[int]:
        return (self._n,)

    def __repr__(self) -> str:
        state = "decoded" if self._full is not None else "lazy"
        return f"<{type(self).__name__} of {self._n} values, {state}>"

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        full = self.materialize()
        if dtype is not None and np.dtype(dtype) != OBJECT:
            return full.astype(dtype)
        return full.copy() if copy else full

    def materialize(self) -> np.ndarray:
        """All values as an object array (decoded on first use, then kept; do not modify)."""
        if self._full is None:
            full = self._guard(self._decode_all)
            if len(full) != self._n:
                raise CorruptChunkError(f"{type(self).__name__} decoded {len(full)} values, "
                                        f"expected {self._n}")
            self._full = full
            self._memo = {}
        return self._full

    def __getitem__(self, key: Any) -> Any:
        if self._full is not None:
            return self._full[key]
        n = self._n
        if isinstance(key, slice):
            start, stop, step = key.indices(n)
            if step == 1 and stop - start >= n:
                return self.materialize()[key]
            if step == 1 and stop - start == 1:  # one record's row: the common case
                return self._row_array(start)
            rows = np.arange(start, stop, step, dtype=np.int64)
        elif isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
            return self._row(int(key))
        elif isinstance(key, np.ndarray) and key.shape == (1,) and key.dtype.kind in "iu":
            return self._row_array(int(key[0]))
        else:
            idx = np.asarray(key)
            if idx.size == 0:
                return np.empty(idx.shape, dtype=object)
            if idx.dtype.kind not in "iu":
                raise IndexError(f"a lazy column is indexed by slices and integer arrays, "
                                 f"not {idx.dtype}")
            rows = idx.astype(np.int64).ravel()
            rows = np.where(rows < 0, rows + n, rows)
            if int(rows.min()) < 0 or int(rows.max()) >= n:
                raise IndexError(f"index out of range for a column of {n} values")
            if idx.ndim != 1:
                return self._take(rows).reshape(idx.shape)
        if len(rows) == 1:
            return self._row_array(int(rows[0]))
        return self._take(rows)

    def _row(self, i: int) -> Any:
        """The value at row ``i`` (negative counts from the end), memoised."""
        j = i + self._n if i < 0 else i
        if not 0 <= j < self._n:
            raise IndexError(f"index {i} out of range for a column of {self._n} values")
        memo = self._memo
        if j in memo:
            return memo[j]
        if self._full is not None:
            return self._full[j]
        self._spent += 1 + self._call_rows
        if self._spent > self._n:
            return self.materialize()[j]
        v = self._guard(self._render_one, j)
        memo[j] = v
        return v

    def item(self, i: int) -> Any:
        """The value at row ``i`` as a Python object (what ``ndarray.item(i)`` gives)."""
        if self._full is not None:
            return self._full[i]
        return self._row(int(i))

    def _render_one(self, j: int) -> Any:
        """The value at valid row ``j``; subclasses may render one value more directly."""
        out = self._render(np.array([j], dtype=np.int64))
        if len(out) != 1:
            raise CorruptChunkError(f"{type(self).__name__} rendered {len(out)} values for 1 row")
        return out[0]

    def _row_array(self, i: int) -> np.ndarray:
        out = np.empty(1, dtype=object)
        out[0] = self._row(i)
        return out

    def _take(self, rows: np.ndarray) -> np.ndarray:
        """The values at ``rows`` (valid, non-negative): rendered, or decoded whole once the
        partial renders' account passes the column's length."""
        self._spent += len(rows) + self._call_rows
        if self._spent > self._n:
            return self.materialize()[rows]
        out = self._guard(self._render, rows)
        if len(out) != len(rows):
            raise CorruptChunkError(f"{type(self).__name__} rendered {len(out)} values for "
                                    f"{len(rows)} rows")
        return out

    def _guard(self, fn: Callable[..., np.ndarray], *args: Any) -> np.ndarray:
        try:
            return fn(*args)
        except CorruptChunkError:
            raise
        except _DEFECTS as e:
            raise CorruptChunkError(f"{type(self).__name__}: {type(e).__name__}: {e}") from None


class ConcatColumn(LazyColumn):
    """Several columns one after the other (a column stored as several chunks in one group)."""

    __slots__ = ("_offs", "_parts")

    def __init__(self, parts: list[Column]) -> None:
        self._parts = parts
        self._offs = np.cumsum([0] + [len(p) for p in parts], dtype=np.int64)
        super().__init__(int(self._offs[-1]))

    def _decode_all(self) -> np.ndarray:
        return np.concatenate([np.asarray(p) for p in self._parts])

    def _render(self, rows: np.ndarray) -> np.ndarray:
        which = np.searchsorted(self._offs, rows, side="right") - 1
        out = np.empty(len(rows), dtype=object)
        for j in np.unique(which).tolist():
            sel = which == j
            out[sel] = self._parts[j][rows[sel] - self._offs[j]]
        return out


def concat(parts: list[Column]) -> Column:
    """One column of these parts in order: an ndarray when every part is one, else lazy."""
    if len(parts) == 1:
        return parts[0]
    if all(isinstance(p, np.ndarray) for p in parts):
        return np.concatenate(parts)
    return ConcatColumn(parts)


class TypedColumn(LazyColumn):
    """A typed-string column (typed_strings.py): the exceptions' increasing positions ``pos``
    and their strings ``exc``; every other row is a typed value, rendered by
    ``render(typed_rows)`` (the strings of those typed values in order; all when ``None``),
    whose fixed cost a call is ``call_rows``.
    """

    __slots__ = ("_exc", "_pos", "_typed")

    def __init__(self, n: int, pos: np.ndarray, exc: Column,
                 render: Callable[[np.ndarray | None], list[str]], call_rows: int) -> None:
        super().__init__(n, call_rows)
        self._pos = pos
        self._exc = exc
        self._typed = render

    def _typed_strings(self, rows: np.ndarray | None, expected: int) -> np.ndarray:
        typed = self._typed(rows)
        if len(typed) != expected:
            raise CorruptChunkError(f"{len(typed)} typed values, expected {expected}")
        return objects(typed, expected)

    def _decode_all(self) -> np.ndarray:
        n, pos = self._n, self._pos
        typed = self._typed_strings(None, n - len(pos))
        if not len(pos):
            return typed
        out = np.empty(n, dtype=object)
        mask = np.ones(n, dtype=bool)
        mask[pos] = False
        out[pos] = np.asarray(self._exc)
        out[mask] = typed
        return out

    def _render(self, rows: np.ndarray) -> np.ndarray:
        pos = self._pos
        if not len(pos):
            return self._typed_strings(rows, len(rows))
        before = np.searchsorted(pos, rows)  # exceptions before each row (or at it)
        hit = np.zeros(len(rows), dtype=bool)
        inside = np.flatnonzero(before < len(pos))
        hit[inside] = pos[before[inside]] == rows[inside]
        out = np.empty(len(rows), dtype=object)
        if hit.any():
            out[hit] = self._exc[before[hit]]
        typed = ~hit
        if typed.any():
            trows = rows[typed] - before[typed]
            out[typed] = self._typed_strings(trows, len(trows))
        return out
