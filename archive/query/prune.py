"""Per-path statistics and the sound pruning rules behind ``Expr.may_match``.

Each node answers a pair ``(may_true, may_false)``: can *some* record in the range make it
true, can *some* record make it false. ``not`` swaps the pair, ``and``/``or`` combine it, and a
leaf decides it kind by kind: for each kind present at its path (from :class:`PathStats`), can a
value of that kind within the kind's bounds pass / fail the test. Both answers over-approximate,
so ``may_true == False`` proves no record matches.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from archive.query.values import (
    K_BYTES,
    K_FLOAT,
    K_INT,
    K_STR,
    KIND_CODES,
    KIND_NAMES,
    kind_of,
    normalize,
)

MayPair = tuple[bool, bool]
UNKNOWN: MayPair = (True, True)
NEVER: MayPair = (False, True)    # no value of this kind passes
ALWAYS: MayPair = (True, False)   # every value of this kind passes


@dataclass(frozen=True)
class PathStats:
    """What is known about one path over a range of records.

    ``kinds`` names which of "missing", "null", "bool", "int", "float", "str", "bytes", "list",
    "dict" occur; ``min``/``max`` map a kind ("int", "float", "str"; "bytes" is honoured too)
    to the least/greatest value of that kind, a kind absent from them having no known bound.
    """

    count: int
    kinds: frozenset[str]
    min: Mapping[str, object] = field(default_factory=dict)
    max: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def from_values(cls, values: Iterable[Any]) -> PathStats:
        """Exact stats of the given values (MISSING for a record without the path)."""
        count, kinds = 0, set()
        lo: dict[str, Any] = {}
        hi: dict[str, Any] = {}
        for v in values:
            count += 1
            k = kind_of(v)
            kinds.add(KIND_NAMES[k])
            if k in (K_INT, K_FLOAT, K_STR):
                v = normalize(v)
                if isinstance(v, float) and math.isnan(v):  # NaN has no place in an order
                    continue
                name = KIND_NAMES[k]
                if name not in lo or v < lo[name]:
                    lo[name] = v
                if name not in hi or v > hi[name]:
                    hi[name] = v
        return cls(count, frozenset(kinds), lo, hi)


def leaf_may(kind_may: Callable[[int, PathStats], MayPair], st: PathStats | None) -> MayPair:
    """Combine a leaf's per-kind answers over the kinds present at its path."""
    if st is None:
        return UNKNOWN
    if st.count <= 0:
        return (False, False)
    if not st.kinds:  # inconsistent stats: do not trust them
        return UNKNOWN
    may_true = may_false = False
    for name in st.kinds:
        code = KIND_CODES.get(name)
        if code is None or name == "other":
            return UNKNOWN
        t, f = kind_may(code, st) if name != "missing" else NEVER
        may_true |= t
        may_false |= f
        if may_true and may_false:
            break
    return may_true, may_false


_BOUND_TYPES: dict[int, tuple[type, ...]] = {K_INT: (int, float), K_FLOAT: (int, float), K_STR: (str,), K_BYTES: (bytes,)}


def bounds(st: PathStats, kind: int) -> tuple[Any, Any]:
    """(min, max) of the kind's values, each None when unknown or unusable."""
    types = _BOUND_TYPES.get(kind)
    if types is None:
        return None, None
    name = KIND_NAMES[kind]
    out = []
    for m in (st.min, st.max):
        b = normalize(m.get(name)) if m else None
        if b is None or isinstance(b, bool) or not isinstance(b, types) or (isinstance(b, float) and math.isnan(b)):
            b = None
        out.append(b)
    return out[0], out[1]


def equal_may(kind: int, lit: Any, st: PathStats, compatible: bool) -> MayPair:
    """``value == lit`` for the values of one (present) kind."""
    if not compatible:
        return NEVER
    lo, hi = bounds(st, kind)
    if lo is None and hi is None:
        # null == null always; bool/bytes/unbounded kinds: could go either way.
        return ALWAYS if lit is None else UNKNOWN
    try:
        may_true = (lo is None or lo <= lit) and (hi is None or lit <= hi)
        # A float range may hide NaN, which equals nothing.
        may_false = kind == K_FLOAT or not (lo is not None and hi is not None and lo == hi == lit)
    except TypeError:
        return UNKNOWN
    return bool(may_true), bool(may_false)


def order_may(kind: int, op: str, lit: Any, st: PathStats, compatible: bool) -> MayPair:
    """``value OP lit`` (OP an ordering) for the values of one kind."""
    if not compatible:
        return NEVER
    lo, hi = bounds(st, kind)
    try:
        if op == "<":
            t = lo is None or lo < lit
            f = hi is None or hi >= lit
        elif op == "<=":
            t = lo is None or lo <= lit
            f = hi is None or hi > lit
        elif op == ">":
            t = hi is None or hi > lit
            f = lo is None or lo <= lit
        else:
            t = hi is None or hi >= lit
            f = lo is None or lo < lit
    except TypeError:
        return UNKNOWN
    return bool(t), bool(f) or kind == K_FLOAT  # NaN fails every ordering


def prefix_may(kind: int, prefix: str | bytes, st: PathStats) -> MayPair:
    """``value.startswith(prefix)``: the strings with a prefix form one interval of the order,
    [prefix, ...), so [lo, hi] meets it iff hi >= prefix and (lo <= prefix or lo has it)."""
    lo, hi = bounds(st, kind)
    try:
        t = (hi is None or hi >= prefix) and (lo is None or lo <= prefix or lo.startswith(prefix))
        f = not (lo is not None and hi is not None and lo.startswith(prefix) and hi.startswith(prefix))
    except TypeError:
        return UNKNOWN
    return bool(t), bool(f)
