"""Vectorized kernels: one predicate over one column of ``n`` values -> bool array.

A column is either *typed* (an int/uint, float or bool numpy array: every value present, not
null, of that type) or *object* (Python values, MISSING where absent). An object column gets an
int8 array of kind codes once per ``evaluate`` call (one Python pass); each kernel then selects
the values of the kinds it can match with numpy and works on that subset only: numbers are
converted to int64/float64 arrays and compared with numpy; strings use per-value Python.

Numbers compare *exactly*, like Python's int/float comparisons: an integer literal beyond the
column's integer range, a non-integral float against integers or an integer that has no exact
float against floats are all decided without any lossy conversion.
"""
from __future__ import annotations

import math
import operator
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from archive.query.values import (
    K_BOOL,
    K_BYTES,
    K_FLOAT,
    K_INT,
    K_LIST,
    K_MISSING,
    K_NULL,
    K_STR,
    MISSING,
    NUMERIC,
    TYPE_KIND,
    equals,
    kind_of,
    regex_kind,
    slow_kind,
)
from archive.query.values import (
    compare as compare_one,
)

OBJECT = -1
_UFUNC = {"==": np.equal, "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}
_MAX_FLOAT = float(np.finfo(np.float64).max)


class Column:
    """One path's values, prepared: ``kind`` is K_INT/K_FLOAT/K_BOOL (typed) or OBJECT."""

    __slots__ = ("codes", "kind", "n", "values")

    def __init__(self, values: np.ndarray, kind: int, codes: np.ndarray | None = None):
        self.n = len(values)
        self.values = values
        self.kind = kind
        self.codes: np.ndarray = codes if codes is not None else np.zeros(0, dtype=np.int8)

    @classmethod
    def uniform(cls, values: np.ndarray, kind: int) -> Column:
        """An object column whose values are all known to be of one ``kind`` (K_STR, K_BYTES):
        prepared without looking at each value's type."""
        return cls(values, OBJECT, np.full(len(values), kind, dtype=np.int8))

    def where(self, kind: int) -> np.ndarray:
        """Indices of the values of one kind (object columns)."""
        return np.flatnonzero(self.codes == kind)


class Columns:
    """The columns of one ``evaluate`` call, each prepared once on first use.

    ``columns`` maps a path to its values (a numpy array or sequence, MISSING where absent) or
    to an already prepared :class:`Column`.
    """

    def __init__(self, columns: Mapping, n: int):
        self.n = operator.index(n)
        if self.n < 0:
            raise ValueError(f"n must be >= 0, not {n}")
        self.columns = columns
        self._cache: dict[tuple, Column] = {}

    def get(self, path: tuple) -> Column:
        col = self._cache.get(path)
        if col is None:
            try:
                raw = self.columns[path]
            except KeyError:
                raw = None
            col = self._cache[path] = _prepare(path, raw, self.n)
        return col


def _prepare(path: tuple, raw: Any, n: int) -> Column:
    if isinstance(raw, Column):  # prepared by the caller
        if raw.n != n:
            raise ValueError(f"column {path!r} has {raw.n} values, expected {n}")
        return raw
    if raw is None:  # a path no column holds: absent from every record
        arr = np.empty(n, dtype=object)
        arr.fill(MISSING)
        return Column(arr, OBJECT, np.zeros(n, dtype=np.int8))
    if isinstance(raw, np.ndarray):
        arr = raw
    else:
        arr = np.empty(len(raw), dtype=object)
        for i, v in enumerate(raw):
            arr[i] = v
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"column {path!r} has shape {arr.shape}, expected ({n},)")
    dk = arr.dtype.kind
    if dk == "b":
        return Column(arr, K_BOOL)
    if dk in "iu":
        return Column(arr, K_INT)
    if dk == "f":
        return Column(arr.astype(np.float64, copy=False), K_FLOAT)
    if dk != "O":
        arr = arr.astype(object)
    codes = np.fromiter(map(TYPE_KIND.__getitem__, map(type, arr)), dtype=np.int8, count=n)
    for j in np.flatnonzero(codes < 0):
        codes[j] = slow_kind(arr[j])
    return Column(arr, OBJECT, codes)


def _const(n: int, value: bool) -> np.ndarray:
    return np.ones(n, dtype=bool) if value else np.zeros(n, dtype=bool)


def _per_value(fn: Any, values: np.ndarray) -> np.ndarray:
    return np.fromiter(map(fn, values), dtype=bool, count=len(values))


# ----------------------------------------------------------------------------- exact numbers

def _int_array_vs(a: np.ndarray, op: str, lit: float) -> np.ndarray:
    """``a OP lit`` for an integer array, exactly (op is == or an ordering)."""
    if isinstance(lit, float):
        if math.isnan(lit):
            return _const(len(a), False)
        if math.isinf(lit):
            return _const(len(a), op in (("<", "<=") if lit > 0 else (">", ">=")))
        if lit.is_integer():
            lit = int(lit)
        elif op == "==":
            return _const(len(a), False)
        elif op in ("<", "<="):  # x < 2.5  <=>  x <= 2
            op, lit = "<=", math.floor(lit)
        else:                    # x > 2.5  <=>  x >= 3
            op, lit = ">=", math.ceil(lit)
    info = np.iinfo(a.dtype)
    if lit > info.max:
        return _const(len(a), op in ("<", "<="))
    if lit < info.min:
        return _const(len(a), op in (">", ">="))
    return _UFUNC[op](a, a.dtype.type(lit))


def _float_array_vs(a: np.ndarray, op: str, lit: float) -> np.ndarray:
    """``a OP lit`` for a float64 array, exactly (op is == or an ordering)."""
    if isinstance(lit, int):
        try:
            f = float(lit)
            exact = f == lit  # Python compares int and float exactly
        except OverflowError:
            f, exact = (math.inf if lit > 0 else -math.inf), False
        if exact:
            lit = f
        else:  # lit lies strictly between two adjacent floats lo < lit < hi
            if op == "==":
                return _const(len(a), False)
            if math.isinf(f):
                lo, hi = (_MAX_FLOAT, math.inf) if f > 0 else (-math.inf, -_MAX_FLOAT)
            elif f < lit:
                lo, hi = f, math.nextafter(f, math.inf)
            else:
                lo, hi = math.nextafter(f, -math.inf), f
            return a <= lo if op in ("<", "<=") else a >= hi
    return _UFUNC[op](a, lit)


def _typed_vs(a: np.ndarray, kind: int, op: str, lit: Any) -> np.ndarray:
    """``a OP lit`` for a typed array of ``kind`` (op is == or an ordering)."""
    lk = kind_of(lit)
    if kind == K_BOOL:
        return np.equal(a, bool(lit)) if (lk == K_BOOL and op == "==") else _const(len(a), False)
    if lk not in NUMERIC:
        return _const(len(a), False)
    return _int_array_vs(a, op, lit) if kind == K_INT else _float_array_vs(a, op, lit)


def _numbers(sub: np.ndarray, kind: int) -> np.ndarray | None:
    """An object array of ints (or floats) as int64 (float64), or None when it does not fit."""
    try:
        return sub.astype(np.int64 if kind == K_INT else np.float64)
    except (OverflowError, TypeError, ValueError):
        return None


# ----------------------------------------------------------------------------- kernels

def present(col: Column) -> np.ndarray:
    if col.kind == OBJECT:
        return np.not_equal(col.codes, K_MISSING)
    return _const(col.n, True)


def compare(col: Column, op: str, lit: Any) -> np.ndarray:
    if op == "!=":  # present and not equal
        return present(col) & ~compare(col, "==", lit)
    if col.kind != OBJECT:
        return _typed_vs(col.values, col.kind, op, lit)
    lk = kind_of(lit)
    out = np.zeros(col.n, dtype=bool)
    if lk in NUMERIC:
        for kind in (K_INT, K_FLOAT):
            idx = col.where(kind)
            if idx.size:
                sub = col.values[idx]
                nums = _numbers(sub, kind)
                out[idx] = (_typed_vs(nums, kind, op, lit) if nums is not None
                            else _per_value(lambda v: compare_one(v, op, lit), sub))
    elif lk in (K_STR, K_BYTES):
        idx = col.where(lk)
        if idx.size:
            boxed = np.empty((), dtype=object)  # keep numpy from making it a U/S scalar,
            boxed[()] = lit                      # which would drop trailing NULs
            vals = col.values if idx.size == col.n else col.values[idx]
            out[idx] = _UFUNC[op](vals, boxed).astype(bool)
    elif op == "==" and lk == K_BOOL:
        idx = col.where(K_BOOL)
        out[idx] = col.values[idx].astype(bool) == lit
    elif op == "==" and lk == K_NULL:
        out = np.equal(col.codes, K_NULL)
    return out


def one_of(col: Column, lits: tuple) -> np.ndarray:
    """Typed ``==`` to any of ``lits``."""
    by_kind: dict[int, list] = {}
    for lit in lits:
        by_kind.setdefault(kind_of(lit), []).append(lit)
    nums = by_kind.get(K_INT, []) + by_kind.get(K_FLOAT, [])
    if col.kind == K_BOOL:
        bools = set(by_kind.get(K_BOOL, ()))
        if len(bools) == 2:
            return _const(col.n, True)
        return np.equal(col.values, bools.pop()) if bools else _const(col.n, False)
    if col.kind in NUMERIC:
        return np.isin(col.values, _exact_candidates(col.values.dtype, nums))
    out = np.zeros(col.n, dtype=bool)
    sets = {K_INT: set(nums), K_FLOAT: set(nums), K_STR: set(by_kind.get(K_STR, ())),
            K_BYTES: set(by_kind.get(K_BYTES, ())), K_BOOL: set(by_kind.get(K_BOOL, ()))}
    for kind, allowed in sets.items():
        if allowed:
            idx = col.where(kind)
            if idx.size:
                out[idx] = _per_value(allowed.__contains__, col.values[idx])
    if K_NULL in by_kind:
        out |= col.codes == K_NULL
    return out


def _exact_candidates(dtype: np.dtype, nums: list) -> np.ndarray:
    """The literals a value of ``dtype`` can equal, converted exactly (others dropped)."""
    out = []
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        for v in nums:
            if isinstance(v, float):
                if not v.is_integer():
                    continue
                v = int(v)
            if info.min <= v <= info.max:
                out.append(v)
    else:
        for v in nums:
            if isinstance(v, int):
                try:
                    f = float(v)
                except OverflowError:
                    continue
                if f != v:
                    continue
                v = f
            out.append(v)
    return np.array(out, dtype=dtype)


def starts_with(col: Column, prefix: str | bytes) -> np.ndarray:
    out = np.zeros(col.n, dtype=bool)
    if col.kind == OBJECT:
        idx = col.where(kind_of(prefix))
        if idx.size:
            out[idx] = _per_value(lambda v: v.startswith(prefix), col.values[idx])
    return out


def contains(col: Column, lit: Any) -> np.ndarray:
    out = np.zeros(col.n, dtype=bool)
    if col.kind != OBJECT:
        return out
    lk = kind_of(lit)
    if lk in (K_STR, K_BYTES):
        idx = col.where(lk)
        if idx.size:
            out[idx] = _per_value(lambda v: lit in v, col.values[idx])
    idx = col.where(K_LIST)
    if idx.size:
        if lk in (K_STR, K_BYTES):  # no other kind == a str (bytes): plain membership is typed
            out[idx] = _per_value(lambda v: lit in v, col.values[idx])
        else:
            out[idx] = _per_value(lambda v: any(equals(e, lit) for e in v), col.values[idx])
    return out


def search(col: Column, rx: re.Pattern) -> np.ndarray:
    out = np.zeros(col.n, dtype=bool)
    if col.kind == OBJECT:
        idx = col.where(regex_kind(rx))
        if idx.size:
            out[idx] = _per_value(lambda v: rx.search(v) is not None, col.values[idx])
    return out
