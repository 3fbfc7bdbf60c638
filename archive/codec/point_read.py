"""Point reads: one record of a group rebuilt value by value, through its GroupReader.

:meth:`GroupReader.records_at` of a single row lands here (:func:`value_at` of the root).
It walks the record's tree once, finding each value's row in its column with plain integers
(no index arrays, no per-key lists, no dict templates), which is what makes a read of one
record of a cached group cheap.

Locating a value needs, per node, how many earlier values share its tag (and, in a dict node,
how many earlier dicts hold each key; in a list node, how many items precede its list).  A
reader's first read counts these directly over the rows before it (one ``count_nonzero``,
one ``bincount`` of shape ids, one sum of lengths) and caches nothing: a cold point read
decodes a group for one record and must not pay for per-group prefix arrays.  Later reads use
the cached prefix arrays of :class:`~archive.codec.assemble.GroupReader`, built on first use.

Results and errors are those of the column-wise path: same values and types, key order,
projections dropping what they do not select, and :class:`CorruptChunkError` for columns
holding too few values, unknown tags or shape ids outside the shape table.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import numpy as np

from archive.codec.shred import ITEM, TAG_SLOT, Path, Tag
from archive.errors import CorruptChunkError
from archive.query.values import MISSING

if TYPE_CHECKING:
    from archive.codec.assemble import GroupReader, Projection

_NULL, _LIST, _DICT, _BIG = int(Tag.NULL), int(Tag.LIST), int(Tag.DICT), int(Tag.BIG)
_TAG_SLOT: Final = {int(t): slot for t, slot in TAG_SLOT.items()}
#: A first read counts the dicts before its row per shape when at most this many distinct
#: shapes precede it (one bincount for all keys); past it, per-key prefix sums are cheaper.
FEW_SHAPES: Final = 32


def value_at(r: GroupReader, path: Path, i: int, proj: Projection) -> Any:
    """The value of node ``path`` at its row ``i`` (``MISSING`` where a projection
    selects nothing)."""
    node = r._cache.get(("node", path))
    if node is None:  # the node's tags and constant tag, found with one lookup next time
        node = r._cache[("node", path)] = (r.col(path, "tag"), r._const_tag(path))
    tags, tag = node
    if len(tags) <= i:
        r._need(path, "tag", i + 1)  # raises
    if tag is None:
        tag = int(tags[i])
        if r._reads > 1 or ("rank", path, tag) in r._cache:
            i = int(r._rank(path, tag)[i])
        else:  # first read: count rather than cache a prefix sum
            i = int(np.count_nonzero(tags[:i] == tag))
    if tag == _NULL:
        return None if proj is None else MISSING
    if tag == _DICT:
        return _dict_at(r, path, i, proj)
    if tag == _LIST:
        return _list_at(r, path, i, proj)
    if proj is not None:
        return MISSING  # a projection asks for keys inside a scalar
    col = r._cache.get((path, _TAG_SLOT[tag]))
    if col is None or len(col) <= i:
        col = r._need(path, _TAG_SLOT[tag], i + 1)
    value = col.item(i)
    if tag == _BIG:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise CorruptChunkError(f"big int column of {path!r} holds a non-integer") from None
    return value


def _list_at(r: GroupReader, path: Path, i: int, proj: Projection) -> list:
    """The list at row ``i`` of the node's lists (its items read column-wise)."""
    lens = r._need(path, "len", i + 1)
    if r._reads > 1 or ("offs", path) in r._cache:
        o = r._offsets(path)
        start, end = int(o[i]), int(o[i + 1])
    else:  # first read: sum the lengths before it rather than cache offsets
        head = lens[: i + 1]
        start = int(head[:i].sum())
        if head.min() < 0 or start < 0:
            raise CorruptChunkError(f"negative list length (or overflow) in column {path!r}")
        end = start + int(head[i])
    if end == start:
        return []
    items = r._values(path + (ITEM,), np.arange(start, end, dtype=np.int64), proj)
    if proj is not None:
        return [x for x in items if x is not MISSING]
    return items


def _dict_at(r: GroupReader, path: Path, i: int, proj: Projection) -> dict:
    """The dict at row ``i`` of the node's dicts, its keys in stored order."""
    sid = int(r._need(path, "shape", i + 1)[i])
    keys = r._shape_table(path)[sid]
    if proj is not None:
        keys = tuple(k for k in keys if k in proj)
    if not keys:
        return {}
    rows = keys_before(r, path, i, keys) if r._reads <= 1 else None
    if rows is None:
        prefs = r._cache.get(("prefs", path, keys))
        if prefs is None:  # the keys' prefix counts, found with one lookup next time
            prefs = [r._field_prefix(path, k) for k in keys]
            r._cache[("prefs", path, keys)] = prefs
        rows = [int(p[i]) for p in prefs]
    if proj is None:
        return {k: value_at(r, path + (k,), j, None) for k, j in zip(keys, rows)}
    out = {k: value_at(r, path + (k,), j, proj[k]) for k, j in zip(keys, rows)}
    return {k: v for k, v in out.items() if v is not MISSING}


def keys_before(r: GroupReader, path: Path, i: int,
                keys: tuple[str, ...] | list[str]) -> list[int] | None:
    """How many of the node's first ``i`` dicts hold each of ``keys``; ``None`` when more
    than :data:`FEW_SHAPES` distinct shapes precede row ``i`` (then counting per key
    through cached prefixes is cheaper)."""
    sets = r._shape_sets(path)  # checks every shape id first
    counts = np.bincount(r.ints(path, "shape")[:i], minlength=1)
    nz = np.flatnonzero(counts)
    if len(nz) > FEW_SHAPES:
        return None
    pairs = [(sets[s], c) for s, c in zip(nz.tolist(), counts[nz].tolist())]
    return [sum(c for ks, c in pairs if k in ks) for k in keys]

