"""Building many dicts at once from per-key value lists (the last step of assembly).

A group's dicts are rebuilt column-wise: each key's values come as one list (one value per
dict holding the key, in dict order), and the dicts are then made with C-level iteration
(``dict(zip(keys, ...))`` over ``zip``/``map(next, ...)``) rather than a Python step a value.
"""
from __future__ import annotations

from itertools import repeat

import numpy as np


def dict_rows(keys: list[str], cols: list, n: int) -> list[dict]:
    """The ``n`` dicts ``{keys[i]: cols[i][j]}`` (every dict has every key, in this order)."""
    if not keys:
        return [{} for _ in range(n)]
    return list(map(dict, map(zip, repeat(keys), zip(*cols))))


def mixed_dicts(shapes: list[tuple[str, ...]], sids: np.ndarray, used: list[int],
                child: dict[str, list]) -> list[dict]:
    """Dicts of several shapes: dict ``j`` has shape ``shapes[sids[j]]`` (``used`` lists the
    distinct ids) restricted to the keys in ``child``; ``child[k]`` holds one value per dict
    whose shape has ``k``, in dict order.  Each dict takes the next value of each of its
    shape's keys, stepped at C level (``map(next, ...)``)."""
    iters = {k: iter(v) for k, v in child.items()}
    plan = {s: (keys, [iters[k] for k in keys])
            for s in used for keys in ([k for k in shapes[s] if k in child],)}
    return [dict(zip(keys, map(next, its))) for keys, its in map(plan.__getitem__, sids.tolist())]
