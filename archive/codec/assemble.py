"""Assembly: columns of one record range (a *group*) back into records.

A :class:`GroupReader` sees the decoded columns of one group through a ``fetch`` callback and
rebuilds, column-wise, the records at any set of rows (each row's values are found in every
column through prefix counts, all rows at once with numpy gathers), optionally projected to
some paths, or one path's value per record as a vector (what ``where`` evaluates and
``column()`` returns).

Everything derived from a column (prefix counts per tag, list offsets, per-key prefix counts)
is computed once per group and cached, so a hot group answers a point lookup with a few numpy
index operations.  A read of one row goes value by value instead
(:mod:`archive.codec.point_read`); a reader's first read (a cold point read) builds none of
the per-group arrays.  Columns are fetched lazily: only the paths a call touches are decoded.

Corrupt columns (a parent claiming more children than the child column holds, unknown tags,
shape ids beyond the shape table, negative lengths) raise :class:`CorruptChunkError`.
"""
from __future__ import annotations

from typing import Any, Callable, Final, Iterable, Mapping, cast

import numpy as np

from archive.codec.dict_rows import dicts_at, lists_at
from archive.codec.lazy import Column, objects
from archive.codec.point_read import value_at
from archive.codec.registry import DTYPES
from archive.codec.shred import (
    SLOT_KIND,
    TAG_SLOT,
    ColumnId,
    Path,
    ShapeTable,
    Tag,
    to_array,
)
from archive.errors import CorruptChunkError
from archive.gcpause import gc_paused
from archive.query.values import MISSING

#: A projection tree: key -> sub-projection, ``None`` meaning "the whole subtree".
Projection = Mapping[str, "Projection | None"] | None
_SCALAR_DTYPE: Final = {Tag.INT: np.int64, Tag.FLOAT: np.float64, Tag.BOOL: np.bool_}
_MAX_TAG: Final = int(max(Tag))  # a plain int: numpy compares IntEnums slowly
_NULL, _LIST, _DICT, _BIG = int(Tag.NULL), int(Tag.LIST), int(Tag.DICT), int(Tag.BIG)
_TAG_SLOT: Final = {int(t): slot for t, slot in TAG_SLOT.items()}


def projection_tree(paths: Iterable[tuple[str, ...]]) -> dict:
    """Merge paths into a projection tree; a path that is a prefix of another wins."""
    tree: dict = {}
    for path in sorted(set(map(tuple, paths)), key=len):
        node = tree
        for i, k in enumerate(path):
            if k in node and node[k] is None:
                break
            if i == len(path) - 1:
                node[k] = None
            else:
                node = node.setdefault(k, {})
    return tree


class GroupReader:
    """Rebuilds records of one group of ``n`` records from its columns.

    ``fetch(column_id)`` returns the decoded values of a column in this group, or ``None``
    when the group has no chunk for it (``str``/``bytes`` columns may be a
    :class:`~archive.codec.lazy.LazyColumn`: they are only ever sliced or indexed by integer
    arrays, so only the values read are built); ``shapes(path)`` returns the shape table (key tuples
    by id) of a dict node.  ``known_tag(path)``, when given, returns ``(tag, count)`` when every
    one of the ``count`` values of ``path`` is known (from metadata) to carry ``tag``, else
    ``None``: such a tag column is never fetched.
    """

    @classmethod
    def from_columns(cls, n: int, columns: Mapping[ColumnId, list], shapes: ShapeTable) -> "GroupReader":
        """A reader over still-unencoded columns (a writer's pending records)."""
        return cls(n, lambda cid: to_array(cid[1], columns[cid]) if cid in columns else None,
                   shapes.shapes)

    def __init__(self, n: int, fetch: Callable[[ColumnId], Column | None],
                 shapes: Callable[[Path], list[tuple[str, ...]]],
                 known_tag: Callable[[Path], tuple[int, int] | None] | None = None) -> None:
        self.n = n
        self._fetch = fetch
        self._shapes = shapes
        self._known_tag = known_tag
        self._cache: dict[Any, Any] = {}
        self._preloaded: dict[ColumnId, Column] = {}
        #: records_at calls served: the first may take cheap uncached paths (a cold point read
        #: decodes a group for one record); later ones build and cache per-group arrays.
        self._reads = 0

    def preload(self, columns: Mapping[ColumnId, Column]) -> None:
        """Hand over columns decoded in a batch; ``col`` uses them instead of calling fetch."""
        self._preloaded.update(columns)

    # --- columns and derived arrays -------------------------------------------------------
    def col(self, path: Path, slot: str) -> Column:
        key = (path, slot)
        arr = self._cache.get(key)
        if arr is None:
            known = self._known_tag(path) if slot == "tag" and self._known_tag else None
            if known is not None:  # a constant tag: nothing to fetch or check
                self._cache[("const", path)] = known[0]
                arr = self._cache[key] = np.empty(known[1], dtype=np.int64)
                arr.fill(known[0])  # (np.full costs twice as much)
                return arr
            arr = self._preloaded.pop(key) if key in self._preloaded else self._fetch(key)
            if arr is None:
                arr = np.empty(0, dtype=DTYPES[SLOT_KIND[slot]])
            if slot == "tag":  # checked once; its constant tag (if any) noted on the way
                tags = cast(np.ndarray, arr)  # int kinds never decode lazily
                lo, hi = (int(tags.min()), int(tags.max())) if len(tags) else (0, 1)
                if lo < 0 or hi > _MAX_TAG:
                    raise CorruptChunkError(f"unknown type tag in column {path!r}")
                self._cache[("const", path)] = lo if lo == hi else None
            self._cache[key] = arr
        return arr

    def ints(self, path: Path, slot: str) -> np.ndarray:
        """An int-kind column (tag, len, shape, int): always a decoded numpy array."""
        return cast(np.ndarray, self.col(path, slot))

    def _need(self, path: Path, slot: str, hi: int) -> Column:
        arr = self.col(path, slot)
        if len(arr) < hi:
            raise CorruptChunkError(
                f"column {path!r}/{slot} holds {len(arr)} values, its parent needs {hi}"
            )
        return arr

    def _const_tag(self, path: Path) -> int | None:
        key = ("const", path)
        if key not in self._cache:
            self.col(path, "tag")  # notes it
        return self._cache[key]

    def _rank(self, path: Path, tag: int) -> np.ndarray:
        """r[j] = how many of the node's first j values carry ``tag`` (length m + 1)."""
        key = ("rank", path, tag)
        r = self._cache.get(key)
        if r is None:
            tags = self.col(path, "tag")
            r = np.zeros(len(tags) + 1, dtype=np.int64)
            np.cumsum(tags == tag, out=r[1:])
            self._cache[key] = r
        return r

    def _offsets(self, path: Path) -> np.ndarray:
        """List element offsets of a node: o[j] = elements before its j-th list."""
        key = ("offs", path)
        o = self._cache.get(key)
        if o is None:
            lens = self.ints(path, "len")
            if len(lens) and lens.min() < 0:
                raise CorruptChunkError(f"negative list length in column {path!r}")
            o = np.zeros(len(lens) + 1, dtype=np.int64)
            np.cumsum(lens, out=o[1:])
            if len(lens) and o[-1] < 0:
                raise CorruptChunkError(f"list lengths overflow in column {path!r}")
            self._cache[key] = o
        return o

    def _shape_table(self, path: Path) -> list[tuple[str, ...]]:
        key = ("shapes", path)
        s = self._cache.get(key)
        if s is None:
            s = self._shapes(path)
            sids = self.ints(path, "shape")
            if len(sids) and (sids.min() < 0 or sids.max() >= len(s)):
                raise CorruptChunkError(f"shape id outside the shape table of {path!r}")
            self._cache[key] = s  # only once checked: a second read must fail the same way
        return s

    def _field_prefix(self, path: Path, k: str) -> np.ndarray:
        """p[j] = how many of the node's first j dicts hold key ``k``.

        Keys held by the same shapes share one array (the same object)."""
        key = ("pref", path, k)
        p = self._cache.get(key)
        if p is None:
            contains = tuple(k in s for s in self._shape_sets(path))
            shared = ("pref_of", path, contains)
            p = self._cache.get(shared)
            if p is None:
                sids = self.ints(path, "shape")
                p = np.zeros(len(sids) + 1, dtype=np.int64)
                np.cumsum(np.array(contains or (False,))[sids], out=p[1:])
                self._cache[shared] = p
            self._cache[key] = p
        return p

    # --- whole values ----------------------------------------------------------------------
    def records(self, a: int, b: int, projection: Projection = None) -> list:
        """Records ``a..b-1`` of the group (projected when ``projection`` is a tree)."""
        if not 0 <= a <= b <= self.n:
            raise IndexError(f"range {a}..{b} outside group of {self.n}")
        return self.records_at(np.arange(a, b, dtype=np.int64), projection)

    def records_at(self, rows: np.ndarray, projection: Projection = None) -> list:
        """The records at group-local ``rows`` (any order, repeats allowed)."""
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return []
        lo, hi = (int(rows[0]),) * 2 if len(rows) == 1 else (int(rows.min()), int(rows.max()))
        if lo < 0 or hi >= self.n:
            raise IndexError(f"row outside group of {self.n}")
        self._need((), "tag", self.n)
        self._reads += 1
        with gc_paused():
            # Internally every index array is strictly increasing (children of increasing
            # parents are increasing), so max is the last item and contiguity one comparison.
            if len(rows) == 1:
                out = [value_at(self, (), lo, projection)]
            elif bool((rows[1:] > rows[:-1]).all()):
                out = self._values((), rows, projection)
            else:
                uniq, inv = np.unique(rows, return_inverse=True)
                vals = self._values((), uniq, projection)
                out = list(map(vals.__getitem__, inv.tolist()))
        if projection is not None and self._const_tag(()) != _DICT:
            out = [v if isinstance(v, dict) else {} for v in out]  # a projected record is a dict
        return out

    def _values(self, path: Path, idx: np.ndarray, proj: Projection) -> list:
        if not len(idx):
            return []
        tags = self._need(path, "tag", int(idx[-1]) + 1)
        ct = self._const_tag(path)
        if ct is not None:
            return self._typed(path, ct, idx, proj)
        if len(idx) == 1:
            i = int(idx[0])
            t0 = int(tags[i])
            if self._reads > 1 or ("rank", path, t0) in self._cache:
                r = self._rank(path, t0)[idx]
            else:  # first read of one row: count directly rather than cache a prefix sum
                r = np.array([np.count_nonzero(tags[:i] == t0)], dtype=np.int64)
            return self._typed(path, t0, r, proj)
        t = tags[idx]
        out = np.empty(len(idx), dtype=object)
        for tag in np.unique(t).tolist():
            sel = np.flatnonzero(t == tag)
            vals = self._typed(path, tag, self._rank(path, tag)[idx[sel]], proj)
            out[sel] = objects(vals)
        return out.tolist()

    def _typed(self, path: Path, tag: int, idx: np.ndarray, proj: Projection) -> list:
        if tag == _NULL:
            return [MISSING] * len(idx) if proj is not None else [None] * len(idx)
        if tag == _LIST:
            return lists_at(self, path, idx, proj)
        if tag == _DICT:
            return dicts_at(self, path, idx, proj)
        if proj is not None:
            return [MISSING] * len(idx)  # a projection asks for keys inside a scalar
        lo, hi = int(idx[0]), int(idx[-1]) + 1
        col = self._need(path, _TAG_SLOT[tag], hi)
        if hi - lo == 1 and tag != _BIG:
            return [col.item(lo)]
        vals = col[lo:hi] if hi - lo == len(idx) else col[idx]
        if tag == _BIG:
            try:
                return [int(s) for s in vals]
            except (TypeError, ValueError):
                raise CorruptChunkError(f"big int column of {path!r} holds a non-integer") from None
        return vals.tolist()

    def _shape_sets(self, path: Path) -> list[frozenset[str]]:
        key = ("sets", path)
        sets = self._cache.get(key)
        if sets is None:
            sets = self._cache[key] = [frozenset(s) for s in self._shape_table(path)]
        return sets

    # --- one path as a vector --------------------------------------------------------------
    def path_values(self, path: tuple[str, ...], a: int, b: int) -> np.ndarray:
        """The value at ``path`` of each record ``a..b-1`` (see :meth:`path_values_at`)."""
        if not 0 <= a <= b <= self.n:
            raise IndexError(f"range {a}..{b} outside group of {self.n}")
        return self.path_values_at(path, np.arange(a, b, dtype=np.int64))

    def path_values_at(self, path: tuple[str, ...], rows: np.ndarray) -> np.ndarray:
        """The value at ``path`` (dict keys only) of each record at group-local ``rows``.

        A typed array (int64, float64, bool) when every record holds a value of that one type;
        otherwise an object array with :data:`MISSING` where a record lacks the path.
        """
        idx = np.asarray(rows, dtype=np.int64)
        if len(idx) and (idx.min() < 0 or idx.max() >= self.n):
            raise IndexError(f"row outside group of {self.n}")
        if len(idx) > 1 and not bool((idx[1:] > idx[:-1]).all()):
            uniq, inv = np.unique(idx, return_inverse=True)
            return self.path_values_at(path, uniq)[inv]
        self._need((), "tag", self.n)
        node: Path = ()
        for k in path:
            tags = self.col(node, "tag")
            valid = np.flatnonzero(idx >= 0)
            is_dict = valid[tags[idx[valid]] == _DICT]
            new = np.full(len(idx), -1, dtype=np.int64)
            if len(is_dict):
                di = self._rank(node, _DICT)[idx[is_dict]]
                self._need(node, "shape", int(di.max()) + 1)
                self._shape_table(node)
                pref = self._field_prefix(node, k)
                has = pref[di + 1] > pref[di]
                new[is_dict[has]] = pref[di[has]]
                self._need(node + (k,), "tag", int(new.max()) + 1 if has.any() else 0)
            idx, node = new, node + (k,)
        return self._gather(node, idx)

    def _gather(self, node: Path, idx: np.ndarray) -> np.ndarray:
        valid = np.flatnonzero(idx >= 0)
        tags = self.col(node, "tag")
        t = tags[idx[valid]]
        if len(valid) == len(idx) and len(idx):
            first = int(t[0])
            if first in _SCALAR_DTYPE and (t == first).all():
                r = self._rank(node, first)[idx]
                return self._need(node, TAG_SLOT[Tag(first)], int(r.max()) + 1)[r].astype(
                    _SCALAR_DTYPE[Tag(first)], copy=False)
        out = np.full(len(idx), MISSING, dtype=object)
        for tag in np.unique(t).tolist():
            pos = valid[t == tag]
            r = self._rank(node, tag)[idx[pos]]
            if tag in (Tag.LIST, Tag.DICT):
                vals = self._typed(node, tag, r, None)
            elif tag == Tag.NULL:
                vals = [None] * len(pos)
            else:
                col = self._need(node, TAG_SLOT[Tag(tag)], int(r.max()) + 1)[r]
                vals = [int(s) for s in col] if tag == Tag.BIG else col.tolist()
            out[pos] = objects(vals)
        return out
