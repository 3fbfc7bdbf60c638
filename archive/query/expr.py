"""The expression tree: ``paths``, ``evaluate`` (vectorized), ``matches`` (one plain record),
``may_match`` (pruning from per-path statistics) and ``str`` (canonical text that parses back).

Nodes are immutable; equality and hashing are structural and type-exact (``x == 1`` and
``x == true`` are different expressions even though ``1 == True`` in Python).
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from archive.query import evaluate as ev
from archive.query import prune
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

Path = tuple[str, ...]
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


class Expr:
    """A parsed ``where`` expression (abstract base of the node classes)."""

    __slots__ = ("__weakref__",)

    @property
    def paths(self) -> tuple[Path, ...]:
        """The paths this expression reads, in first-use order, without duplicates."""
        seen: dict[Path, None] = {}
        self._collect(seen)
        return tuple(seen)

    def evaluate(self, columns: Mapping[Path, np.ndarray], n: int) -> np.ndarray:
        """A bool array of length ``n``: which of the ``n`` records match.

        ``columns[path]`` holds the values of ``path`` for the records: a typed array (int,
        float, bool dtype: every value present, non-null, of that type) or an object array of
        Python values with MISSING where the path is absent. A path absent from ``columns``
        is taken as absent from every record.
        """
        return self._eval(ev.Columns(columns, n))

    def matches(self, record: Any) -> bool:
        """Does one plain record (nested dicts) match? The reference model of ``evaluate``."""
        return self._match(record)

    def may_match(self, stats: Mapping[Path, Any]) -> bool:
        """False only when no record summarized by ``stats`` (path -> PathStats | None) can
        match; True whenever it cannot tell."""
        return self._may(stats if stats is not None else {})[0]

    def __str__(self) -> str:
        return self._text()

    def __repr__(self) -> str:
        return f"parse({self._text()!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._key() == self._key()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._key()))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _init(self, **fields: Any) -> None:
        for k, v in fields.items():
            object.__setattr__(self, k, v)

    # Subclass hooks.
    def _collect(self, seen: dict[Path, None]) -> None: raise NotImplementedError
    def _eval(self, cols: ev.Columns) -> np.ndarray: raise NotImplementedError
    def _match(self, record: Any) -> bool: raise NotImplementedError
    def _may(self, stats: Mapping[Path, Any]) -> tuple[bool, bool]: raise NotImplementedError
    def _text(self) -> str: raise NotImplementedError
    def _key(self) -> tuple: raise NotImplementedError


# ----------------------------------------------------------------------------- predicates

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


# ----------------------------------------------------------------------------- connectives

class _Junction(Expr):
    __slots__ = ("items",)
    items: tuple[Expr, ...]
    word = ""

    def __init__(self, items: Iterable[Expr]):
        items = tuple(items)
        if len(items) < 2 or not all(isinstance(e, Expr) for e in items):
            raise TypeError(f"{type(self).__name__} needs two or more expressions")
        self._init(items=items)

    def _collect(self, seen: dict[Path, None]) -> None:
        for e in self.items:
            e._collect(seen)

    def _key(self) -> tuple:
        return tuple((type(e).__name__, e._key()) for e in self.items)

    def _text(self) -> str:
        return f" {self.word} ".join(self._child_text(e) for e in self.items)

    def _child_text(self, e: Expr) -> str:
        if isinstance(e, _Junction) and not (isinstance(self, Or) and isinstance(e, And)):
            return f"({e._text()})"
        return e._text()


class And(_Junction):
    __slots__ = ()
    word = "and"

    def _eval(self, cols: ev.Columns) -> np.ndarray:
        out = self.items[0]._eval(cols)
        for e in self.items[1:]:
            if not out.any():
                break
            out &= e._eval(cols)
        return out

    def _match(self, record: Any) -> bool:
        return all(e._match(record) for e in self.items)

    def _may(self, stats: Mapping[Path, Any]) -> tuple[bool, bool]:
        both = [e._may(stats) for e in self.items]
        return all(t for t, _ in both), any(f for _, f in both)


class Or(_Junction):
    __slots__ = ()
    word = "or"

    def _eval(self, cols: ev.Columns) -> np.ndarray:
        out = self.items[0]._eval(cols)
        for e in self.items[1:]:
            if out.all():
                break
            out |= e._eval(cols)
        return out

    def _match(self, record: Any) -> bool:
        return any(e._match(record) for e in self.items)

    def _may(self, stats: Mapping[Path, Any]) -> tuple[bool, bool]:
        both = [e._may(stats) for e in self.items]
        return any(t for t, _ in both), all(f for _, f in both)


class Not(Expr):
    __slots__ = ("item",)
    item: Expr

    def __init__(self, item: Expr):
        if not isinstance(item, Expr):
            raise TypeError("Not needs an expression")
        self._init(item=item)

    def _collect(self, seen: dict[Path, None]) -> None:
        self.item._collect(seen)

    def _eval(self, cols: ev.Columns) -> np.ndarray:
        return ~self.item._eval(cols)

    def _match(self, record: Any) -> bool:
        return not self.item._match(record)

    def _may(self, stats: Mapping[Path, Any]) -> tuple[bool, bool]:
        may_true, may_false = self.item._may(stats)
        return may_false, may_true

    def _text(self) -> str:
        inner = self.item._text()
        return f"not ({inner})" if isinstance(self.item, _Junction) else f"not {inner}"

    def _key(self) -> tuple:
        return ((type(self.item).__name__, self.item._key()),)
