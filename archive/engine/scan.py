"""Scans: records in position order, projected, filtered by a ``where`` expression.

A scan walks the groups in order.  For each group it first asks the expression whether any
record *could* match, given the group's chunk statistics (value kinds present, min/max per
kind) — a group ruled out is skipped without decompressing anything — and, for string tests
(``contains`` / ``startswith`` / ``matches``) on columns of log lines, the template
dictionaries of the group's chunks (:mod:`archive.engine.grep`).  Otherwise only the
columns under the filtered paths are decoded, the expression is evaluated vectorized over the
group, and only the matching records are assembled (projected to ``columns``).

Filtered paths and ``column()`` read a group's values straight from the one value column that
holds them when the group is *uniform* for the path (every record holds a value of one scalar
type there, :mod:`archive.engine.columns`): no tag, shape or presence column is decoded, and
``column()`` decodes the chunks of all uniform groups in one batch.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from archive.codec.assemble import MISSING, GroupReader, projection_tree
from archive.codec.shred import Tag
from archive.engine import grep
from archive.engine.columns import (
    decode_uniform,
    moved_slots,
    reader_values,
    uniform_columns,
)
from archive.engine.housekeeping import parse_path
from archive.query import Expr, PathStats, lookup, parse

if TYPE_CHECKING:
    from archive.engine.archive import Archive

_PY_DTYPE = {bool: np.dtype(np.bool_), int: np.dtype(np.int64), float: np.dtype(np.float64)}
_TAG_KIND = {Tag.NULL: "null", Tag.BOOL: "bool", Tag.INT: "int", Tag.BIG: "int", Tag.FLOAT: "float",
             Tag.STR: "str", Tag.BYTES: "bytes", Tag.LIST: "list", Tag.DICT: "dict"}


def _groups(ar: Archive) -> Iterator[tuple[int, int, int]]:
    """(group, first row, rows) for every group, the writer's pending one last."""
    view = ar._view
    for g in range(len(view.group_first)):
        yield g, int(view.group_first[g]), int(view.group_rows[g])
    if ar._writer is not None and ar._writer.p.rows:
        yield len(view.group_first), view.rows, ar._writer.p.rows


def _live(ar: Archive, first: int, n: int) -> np.ndarray:
    rows = np.arange(first, first + n, dtype=np.int64)
    dead = ar._view.dead
    if len(dead):
        a, b = np.searchsorted(dead, [first, first + n])
        if b > a:
            rows = rows[~np.isin(rows, dead[a:b])]
    return rows


def group_stats(ar: Archive, g: int, n: int, path: tuple[str, ...]) -> PathStats | None:
    """What the chunk statistics say about ``path`` in group ``g`` (None: unknown)."""
    view = ar._view
    if g >= len(view.group_first):
        return None
    tag_col = view.col_ids.get((path, "tag"))
    refs = view.group_refs[g]
    if tag_col is None or not (refs["col"] == tag_col).any():
        return PathStats(n, frozenset({"missing"}))
    bits = 0
    for s in view.chunk_stats(tag_col, g):  # the writer's uncommitted groups have them too
        if "tags" not in s:
            return None
        bits |= int(s["tags"])
    count = int(refs["count"][refs["col"] == tag_col].sum())
    kinds = {_TAG_KIND[t] for t in Tag if bits >> t & 1}
    if count < n:
        kinds.add("missing")
    lo: dict[str, Any] = {}
    hi: dict[str, Any] = {}
    for slot in ("int", "float", "str"):
        if slot == "int" and bits >> Tag.BIG & 1:
            continue
        col = view.col_ids.get((path, slot))
        if col is None or not (refs["col"] == col).any():
            continue
        parts = view.chunk_stats(col, g)
        if parts and all("min" in p and "max" in p for p in parts):
            lo[slot] = min(p["min"] for p in parts)
            hi[slot] = max(p["max"] for p in parts)
    return PathStats(n, frozenset(kinds), lo, hi)


def _select(ar: Archive, reader: GroupReader, local: np.ndarray, expr: Expr | None,
            redirected: dict[int, Any], g: int | None = None) -> np.ndarray:
    """Mask of the rows (group-local) that match; redirected rows are judged on their content.

    ``g``: the reader's group, when known, lets paths the group is uniform for be read
    straight from their value column.
    """
    if expr is None:
        return np.ones(len(local), dtype=bool)
    view = ar._view
    known = g is not None and g < len(view.group_first)
    whole = len(local) == reader.n
    cols: dict[Any, Any] = {p: reader_values(reader, view, int(uniform_columns(view, p)[g]) if known else -1,
                             p, local, whole) for p in expr.paths}
    mask = expr.evaluate(cols, len(local))
    for i, rec in redirected.items():
        mask[i] = expr.matches(rec)
    return mask


def _moved_in(moved: np.ndarray, first: int, n: int) -> bool:
    """Does the sorted array of moved slots hold one in ``first..first+n-1``?"""
    a, b = np.searchsorted(moved, [first, first + n]).tolist()
    return b > a


def scan(ar: Archive, columns: Iterable[str | tuple] | None, where: str | None) -> Iterator[Any]:
    paths = None if columns is None else [parse_path(c) for c in columns]
    proj = None if paths is None else projection_tree(paths)
    expr = parse(where) if where is not None else None
    moved_all = moved_slots(ar._view)
    for g, first, n in list(_groups(ar)):
        live = _live(ar, first, n)
        if not len(live):
            continue
        moved = np.zeros(0, dtype=np.int64)
        if _moved_in(moved_all, first, n):
            content = ar._view.content_rows(live)
            moved = np.flatnonzero(content != live)
        # Statistics describe the group's own rows: only valid when none is redirected away.
        if (expr is not None and not len(moved)
                and not expr.may_match({p: group_stats(ar, g, n, p) for p in expr.paths})):
            continue
        # Likewise the template dictionaries of log-line chunks (archive.engine.grep).
        if expr is not None and not len(moved) and not grep.may_match_templates(ar, g, expr):
            continue
        redirected = {}
        if len(moved):
            redirected = dict(zip(moved.tolist(), ar._read_rows(content[moved])))
        # Filtered or projected: decode columns as the paths ask for them, not the whole group.
        reader, _ = ar._group(g, None if expr is None and proj is None else set())
        local = live - first
        mask = _select(ar, reader, local, expr, redirected, g)
        keep = np.flatnonzero(mask)
        if not len(keep):
            continue
        if not len(moved):
            yield from reader.records_at(local[keep], proj)
            continue
        plain = keep[~np.isin(keep, moved)]
        recs = dict(zip(plain.tolist(), reader.records_at(local[plain], proj)))
        for i in keep.tolist():
            if i in recs:
                yield recs[i]
            else:
                rec = redirected[i]
                yield rec if proj is None else (_project(rec, proj) if isinstance(rec, dict) else {})


def _project(rec: Any, proj: dict) -> Any:
    if isinstance(rec, list):
        return [x for x in (_project(v, proj) for v in rec) if x is not MISSING]
    if not isinstance(rec, dict):
        return MISSING
    out = {}
    for k, v in rec.items():
        if k in proj:
            sub = v if proj[k] is None else _project(v, proj[k])
            if sub is not MISSING:
                out[k] = sub
    return out


def _as_array(vals: list) -> np.ndarray:
    """Values looked up in records: typed when all are bools, int64-range ints or floats."""
    types = set(map(type, vals))
    dtype = _PY_DTYPE.get(types.pop()) if len(types) == 1 else None
    if dtype is not None:
        try:
            return np.array(vals, dtype=dtype)
        except OverflowError:  # ints beyond int64
            pass
    arr = np.empty(len(vals), dtype=object)
    arr[:] = vals
    return arr


def column(ar: Archive, path: str | tuple) -> np.ndarray:
    """``path``'s value in every record, in position order (``None`` where absent or null).

    A typed int64/float64/bool array when every record holds a value of that one type,
    otherwise an object array.
    """
    p = parse_path(path)
    view = ar._view
    uniform = uniform_columns(view, p)
    if (len(uniform) and bool((uniform >= 0).all()) and not len(view.dead) and not view.redirect
            and not (ar._writer is not None and ar._writer.p.rows)):
        # every row live, in place and holding the path with one type: one batch, no groups
        return _joined(decode_uniform(view, uniform, list(range(len(uniform))), ar.threads))
    moved_all = moved_slots(view)
    # Per group: its live rows and either its values (done) or None (uniform: decode below).
    plan: list[tuple[int, int, np.ndarray, np.ndarray | None]] = []
    for g, first, n in list(_groups(ar)):
        live = _live(ar, first, n)
        if not len(live):
            continue
        arr = None
        content = view.content_rows(live) if _moved_in(moved_all, first, n) else live
        if (content != live).any():
            arr = _as_array([lookup(r, p) for r in ar._read_rows(content)])
        elif g >= len(uniform) or uniform[g] < 0:
            reader, _ = ar._group(g, set())  # only the path's columns get decoded
            arr = reader.path_values_at(p, live - first)
        if arr is not None and arr.dtype == object:
            arr[np.fromiter((v is MISSING for v in arr), dtype=bool, count=len(arr))] = None
        plan.append((g, first, live, arr))
    todo = [g for g, _, _, arr in plan if arr is None]
    decoded = dict(zip(todo, decode_uniform(view, uniform, todo, ar.threads)))
    return _joined([arr if arr is not None else
                    (decoded[g] if len(live) == len(decoded[g]) else decoded[g][live - first])
                    for g, first, live, arr in plan])


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """The groups' values as one array: typed when every part has the same typed dtype."""
    if not parts:
        return np.empty(0, dtype=object)
    if all(a.dtype != object for a in parts) and len({a.dtype for a in parts}) == 1:
        return np.concatenate(parts)
    return np.concatenate([a.astype(object) for a in parts])
