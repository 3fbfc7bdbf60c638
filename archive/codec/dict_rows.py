"""Building many containers at once from per-key value lists (the last step of assembly).

A group's dicts are rebuilt column-wise (:func:`dicts_at`, for a
:class:`~archive.codec.assemble.GroupReader`): each key's values come as one list (one value
per dict holding the key, in dict order), and the dicts are then made with C-level iteration
(copies of a per-shape template dict updated from ``zip``/``map(next, ...)``) rather than a
Python step a value or a dict; lists (:func:`lists_at`) are slices of their items' values.
Values computed in some order are put back in another with one numpy object-array scatter.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from itertools import pairwise, repeat
from typing import TYPE_CHECKING, Any

import numpy as np

from archive.codec.lazy import objects
from archive.codec.point_read import keys_before
from archive.codec.shred import ITEM, Path
from archive.errors import CorruptChunkError
from archive.query.values import MISSING

if TYPE_CHECKING:
    from archive.codec.assemble import GroupReader, Projection


def dict_rows(keys: list[str], cols: list, n: int) -> list[dict]:
    """The ``n`` dicts ``{keys[i]: cols[i][j]}`` (every dict has every key, in this order);
    :class:`CorruptChunkError` unless every column holds ``n`` values."""
    if any(len(c) != n for c in cols):
        raise CorruptChunkError(f"dict fields hold {sorted({len(c) for c in cols})} values "
                                f"for {n} dicts")
    if not keys:
        return [{} for _ in range(n)]
    return _fill([dict.fromkeys(keys)] * n, map(zip, repeat(keys), zip(*cols)))


def mixed_dicts(shapes: list[tuple[str, ...]], sids: np.ndarray, used: list[int],
                child: dict[str, list]) -> list[dict]:
    """Dicts of several shapes: dict ``j`` has shape ``shapes[sids[j]]`` (``used`` lists the
    distinct ids) restricted to the keys in ``child``; ``child[k]`` holds one value per dict
    whose shape has ``k``, in dict order.

    Each shape gets one generator of key/value pairs, ``zip(*its)`` pulling the next value of
    each of its keys from iterators shared by all shapes; dict ``j`` is filled from the next
    item of its shape's generator, all at C level.  Raises :class:`CorruptChunkError` when a
    key's list does not hold one value per dict whose shape has the key.
    """
    sl = sids.tolist()
    counts = np.bincount(sids, minlength=max(used) + 1).tolist() if sl else []
    iters = {k: iter(v) for k, v in child.items()}
    gens: dict[int, Iterator[Any]] = {}
    templates: dict[int, dict] = {}
    need = dict.fromkeys(child, 0)
    for s in used:
        keys = [k for k in shapes[s] if k in child]
        for k in keys:
            need[k] += counts[s]
        templates[s] = dict.fromkeys(keys)
        gens[s] = map(zip, repeat(keys), zip(*[iters[k] for k in keys]) if keys else repeat(()))
    short = [k for k, c in need.items() if len(child[k]) != c]
    if short:
        raise CorruptChunkError(f"field {short[0]!r} holds {len(child[short[0]])} values "
                                f"for {need[short[0]]} dicts")
    return _fill(list(map(templates.__getitem__, sl)), map(next, map(gens.__getitem__, sl)))


def _fill(templates: list[dict], pairs: Iterator[Any]) -> list[dict]:
    """Copies of ``templates`` (dicts already holding their keys, in order), each updated with
    the next item of ``pairs``: copying a dict of the right keys and size, then overwriting
    its values, is faster than growing a new dict key by key.  ``pairs`` must hold one item
    per template."""
    out = list(map(dict.copy, templates))
    deque(map(dict.update, out, pairs), 0)
    return out


def scatter(values: list, where: np.ndarray, n: int) -> list:
    """The list of ``n`` items with ``values[i]`` at position ``where[i]`` (every position
    written exactly once), by one object-array assignment."""
    out = np.empty(n, dtype=object)
    out[where] = objects(values)
    return out.tolist()


# --- the containers of a GroupReader, column-wise ------------------------------------------
def lists_at(r: GroupReader, path: Path, idx: np.ndarray, proj: Projection) -> list:
    """The lists at rows ``idx`` (increasing) of node ``path``'s lists."""
    lens_col = r._need(path, "len", int(idx[-1]) + 1)
    if len(idx) == 1 and r._reads <= 1 and ("offs", path) not in r._cache:
        i = int(idx[0])  # one list: sum the lengths before it rather than cache offsets
        head, lens = lens_col[: i + 1], lens_col[i : i + 1]
        starts = np.array([int(head[:i].sum())], dtype=np.int64)
        if head.min() < 0 or starts[0] < 0:
            raise CorruptChunkError(f"negative list length (or overflow) in column {path!r}")
    else:
        o = r._offsets(path)
        starts, lens = o[idx], o[idx + 1] - o[idx]
    ends = np.cumsum(lens)
    total = int(ends[-1])
    if idx[-1] - idx[0] == len(idx) - 1:
        child = np.arange(starts[0], starts[0] + total, dtype=np.int64)
    else:
        child = np.arange(total, dtype=np.int64) + np.repeat(starts - (ends - lens), lens)
    items = r._values(path + (ITEM,), child, proj)
    k = int(lens[0])
    if k and total == k * len(lens) and bool((lens == k).all()):
        # lists of one length (pairs, vectors): cut by zip in C, twice as fast as slicing
        it = iter(items)
        out = list(map(list, zip(*[it] * k)))
    else:
        bounds = [0] + ends.tolist()
        out = [items[s:e] for s, e in pairwise(bounds)]
    if proj is not None and MISSING in items:  # items the projection selects nothing of
        out = [[x for x in lst if x is not MISSING] for lst in out]
    return out


def dicts_at(r: GroupReader, path: Path, idx: np.ndarray, proj: Projection) -> list:
    """The dicts at rows ``idx`` (increasing) of node ``path``'s dicts, each key's values
    read column-wise for all of them at once."""
    sids = r._need(path, "shape", int(idx[-1]) + 1)[idx]
    shapes = r._shape_table(path)
    used = [int(sids[0])] if len(sids) == 1 else np.unique(sids).tolist()
    keys_in_use: dict[str, None] = {}
    for s in used:
        keys_in_use.update(dict.fromkeys(shapes[s]))
    keys_read = [k for k in keys_in_use if proj is None or k in proj]
    cidxs = _child_rows(r, path, idx, keys_read, len(used) == 1)
    child = {k: r._values(path + (k,), cidx, None if proj is None else proj[k])
             for k, cidx in zip(keys_read, cidxs)}
    if len(used) == 1:
        keys = [k for k in shapes[used[0]] if k in child]
        rows = dict_rows(keys, [child[k] for k in keys], len(idx))
    else:
        rows = mixed_dicts(shapes, sids, used, child)
    # Only a key projected deeper than its values (proj[k] not None) can hold MISSING.
    if proj is not None and any(proj[k] is not None and MISSING in child[k] for k in child):
        return [{k: v for k, v in d.items() if v is not MISSING} for d in rows]
    return rows


def _child_rows(r: GroupReader, path: Path, idx: np.ndarray, keys: list[str],
                one_shape: bool) -> list[np.ndarray]:
    """For each of ``keys``: the child-column rows of the dicts at ``idx`` holding it.

    On a reader's first read, one dict (say the one dict among several rows) is located
    by counting, per shape, the dicts before it (one bincount for all keys, nothing
    cached) unless too many distinct shapes precede it; otherwise per-key prefix counts
    are built and cached.
    """
    if len(idx) == 1 and r._reads <= 1:
        before = keys_before(r, path, int(idx[0]), keys)
        if before is not None:
            return [np.array([b], dtype=np.int64) for b in before]
    by_prefix: dict[int, np.ndarray] = {}  # keys sharing a prefix array share the rows
    out = []
    for k in keys:
        p = r._field_prefix(path, k)
        rows = by_prefix.get(id(p))
        if rows is None:
            pi = p[idx]
            rows = by_prefix[id(p)] = pi if one_shape else pi[p[idx + 1] > pi]
        out.append(rows)
    return out
