"""Building many containers at once from per-key value lists (the last step of assembly).

A group's dicts are rebuilt column-wise: each key's values come as one list (one value per
dict holding the key, in dict order), and the dicts are then made with C-level iteration
(copies of a per-shape template dict updated from ``zip``/``map(next, ...)``) rather than a
Python step a value or a dict.
Values computed in some order are put back in another with one numpy object-array scatter.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from itertools import repeat
from typing import Any

import numpy as np

from archive.codec.lazy import objects
from archive.errors import CorruptChunkError


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
