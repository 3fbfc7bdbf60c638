"""The leaf nodes of the ``where`` expression tree: one test of the value at one path.

:class:`Compare`, :class:`In`, :class:`StartsWith`, :class:`Contains`, :class:`Matches` and
:class:`Exists` each implement the three views of :class:`~archive.query.expr.Expr` for their
test: a vectorized kernel (:mod:`archive.query.evaluate`), the plain-record reference
(:mod:`archive.query.values`) and the per-kind pruning answer (:mod:`archive.query.prune`).
Constructors validate their path (a non-empty tuple of str, or ROOT) and literals (null,
bool, int, float except NaN, str, bytes) and raise TypeError/ValueError otherwise.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from archive.query import evaluate as ev
from archive.query import prune
from archive.query.expr import Expr, Path
from archive.query.values import (
    COMPARE_OPS,
    K_BOOL,
    K_BYTES,
    K_FLOAT,
    K_INT,
    K_LIST,
    K_NULL,
    K_STR,
    MISSING,
    NUMERIC,
    ROOT,
    _RootPath,
    compare,
    contains,
    format_literal,
    format_path,
    kind_of,
    lookup,
    one_of,
    regex_kind,
    search,
    starts_with,
)

_LITERAL_KINDS = (K_NULL, K_BOOL, K_INT, K_FLOAT, K_STR, K_BYTES)


def _check_path(path: Iterable[str]) -> Path:
    if isinstance(path, _RootPath):
        return ROOT
    path = tuple(path)
    if not path or not all(isinstance(k, str) for k in path):
        raise TypeError(f"a path is a non-empty tuple of str keys (or ROOT), not {path!r}")
    return path


def _check_literal(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if kind_of(v) not in _LITERAL_KINDS or (isinstance(v, float) and math.isnan(v)):
        raise TypeError(f"not a literal (null, bool, int, float except NaN, str, bytes): {v!r}")
    return v


def _lit_key(v: Any) -> tuple:
    return (type(v).__name__, repr(v) if isinstance(v, float) else v)


class _Leaf(Expr):
    """A test of the value at one path."""

    __slots__ = ("path",)
    path: Path

    def _collect(self, seen: dict[Path, None]) -> None:
        seen.setdefault(self.path, None)

    def _eval(self, cols: ev.Columns) -> np.ndarray:
        return self._kernel(cols.get(self.path))

    def _match(self, record: Any) -> bool:
        return self._test(lookup(record, self.path))

    def _may(self, stats: Mapping[Path, Any]) -> tuple[bool, bool]:
        return prune.leaf_may(self._kind_may, stats.get(self.path))

    def _kernel(self, col: ev.Column) -> np.ndarray: raise NotImplementedError
    def _test(self, v: Any) -> bool: raise NotImplementedError
    def _kind_may(self, kind: int, st: prune.PathStats) -> prune.MayPair: raise NotImplementedError


def _equal_may(kind: int, lit: Any, st: prune.PathStats) -> prune.MayPair:
    lk = kind_of(lit)
    return prune.equal_may(kind, lit, st, kind == lk or (kind in NUMERIC and lk in NUMERIC))


class Compare(_Leaf):
    """``path OP literal`` with OP one of ``== != < <= > >=``."""

    __slots__ = ("op", "value")
    op: str
    value: Any

    def __init__(self, path: Iterable[str], op: str, value: Any):
        if op not in COMPARE_OPS:
            raise ValueError(f"unknown comparison operator {op!r}")
        self._init(path=_check_path(path), op=op, value=_check_literal(value))

    def _kernel(self, col: ev.Column) -> np.ndarray:
        return ev.compare(col, self.op, self.value)

    def _test(self, v: Any) -> bool:
        return compare(v, self.op, self.value)

    def _kind_may(self, kind: int, st: prune.PathStats) -> prune.MayPair:
        if self.op == "==":
            return _equal_may(kind, self.value, st)
        if self.op == "!=":  # for present values, != is exactly not ==
            may_true, may_false = _equal_may(kind, self.value, st)
            return may_false, may_true
        lk = kind_of(self.value)
        ordered = (kind in NUMERIC and lk in NUMERIC) or (kind == lk and kind in (K_STR, K_BYTES))
        return prune.order_may(kind, self.op, self.value, st, ordered)

    def _text(self) -> str:
        return f"{format_path(self.path)} {self.op} {format_literal(self.value)}"

    def _key(self) -> tuple:
        return (self.path, self.op, _lit_key(self.value))


class In(_Leaf):
    """``path in [lit, ...]``: equal (typed ``==``) to any of the literals."""

    __slots__ = ("values",)
    values: tuple

    def __init__(self, path: Iterable[str], values: Iterable[Any]):
        self._init(path=_check_path(path), values=tuple(_check_literal(v) for v in values))

    def _kernel(self, col: ev.Column) -> np.ndarray:
        return ev.one_of(col, self.values)

    def _test(self, v: Any) -> bool:
        return one_of(v, self.values)

    def _kind_may(self, kind: int, st: prune.PathStats) -> prune.MayPair:
        pairs = [_equal_may(kind, lit, st) for lit in self.values]
        return any(t for t, _ in pairs), all(f for _, f in pairs)

    def _text(self) -> str:
        return f"{format_path(self.path)} in [{', '.join(map(format_literal, self.values))}]"

    def _key(self) -> tuple:
        return (self.path, tuple(map(_lit_key, self.values)))


class _StringLeaf(_Leaf):
    __slots__ = ("value",)
    word = ""
    value: Any

    def __init__(self, path: Iterable[str], value: str | bytes):
        if not isinstance(value, (str, bytes)):
            raise TypeError(f"{self.word} needs a str or bytes literal, not {value!r}")
        self._init(path=_check_path(path), value=_check_literal(value))

    def _text(self) -> str:
        return f"{format_path(self.path)} {self.word} {format_literal(self.value)}"

    def _key(self) -> tuple:
        return (self.path, _lit_key(self.value))


class StartsWith(_StringLeaf):
    """``path startswith "prefix"`` (str values with a str literal, bytes with bytes)."""

    __slots__ = ()
    word = "startswith"

    def _kernel(self, col: ev.Column) -> np.ndarray:
        return ev.starts_with(col, self.value)

    def _test(self, v: Any) -> bool:
        return starts_with(v, self.value)

    def _kind_may(self, kind: int, st: prune.PathStats) -> prune.MayPair:
        if kind != kind_of(self.value):
            return prune.NEVER
        return prune.prefix_may(kind, self.value, st)


class Contains(_Leaf):
    """``path contains lit``: substring of a str/bytes value, or typed element of a list value."""

    __slots__ = ("value",)
    value: Any

    def __init__(self, path: Iterable[str], value: Any):
        self._init(path=_check_path(path), value=_check_literal(value))

    def _kernel(self, col: ev.Column) -> np.ndarray:
        return ev.contains(col, self.value)

    def _test(self, v: Any) -> bool:
        return contains(v, self.value)

    def _kind_may(self, kind: int, st: prune.PathStats) -> prune.MayPair:
        if kind == K_LIST:
            return prune.UNKNOWN
        if kind == kind_of(self.value) and kind in (K_STR, K_BYTES):
            return prune.ALWAYS if not self.value else prune.UNKNOWN
        return prune.NEVER

    def _text(self) -> str:
        return f"{format_path(self.path)} contains {format_literal(self.value)}"

    def _key(self) -> tuple:
        return (self.path, _lit_key(self.value))


class Matches(_StringLeaf):
    """``path matches "regex"``: ``re.search`` on str values (bytes pattern: bytes values)."""

    __slots__ = ("regex",)
    word = "matches"
    regex: re.Pattern

    def __init__(self, path: Iterable[str], value: str | bytes):
        super().__init__(path, value)
        self._init(regex=re.compile(value))

    def _kernel(self, col: ev.Column) -> np.ndarray:
        return ev.search(col, self.regex)

    def _test(self, v: Any) -> bool:
        return search(v, self.regex)

    def _kind_may(self, kind: int, st: prune.PathStats) -> prune.MayPair:
        return prune.UNKNOWN if kind == regex_kind(self.regex) else prune.NEVER


class Exists(_Leaf):
    """``exists path``: the record has the path (its value may be null)."""

    __slots__ = ()

    def __init__(self, path: Iterable[str]):
        self._init(path=_check_path(path))

    def _kernel(self, col: ev.Column) -> np.ndarray:
        return ev.present(col)

    def _test(self, v: Any) -> bool:
        return v is not MISSING

    def _kind_may(self, kind: int, st: prune.PathStats) -> prune.MayPair:
        return prune.ALWAYS  # leaf_may answers NEVER for "missing" itself

    def _text(self) -> str:
        return f"exists {format_path(self.path)}"

    def _key(self) -> tuple:
        return (self.path,)
