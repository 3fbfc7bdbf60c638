"""The expression tree: ``paths``, ``evaluate`` (vectorized), ``matches`` (one plain record),
``may_match`` (pruning from per-path statistics) and ``str`` (canonical text that parses back).

This module holds the abstract :class:`Expr` and the connectives :class:`And`, :class:`Or`,
:class:`Not`; the leaf tests (``Compare``, ``In``, ...) are in :mod:`archive.query.predicates`.
Nodes are immutable; equality and hashing are structural and type-exact (``x == 1`` and
``x == true`` are different expressions even though ``1 == True`` in Python).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from archive.query import evaluate as ev

Path = tuple[str, ...]


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
