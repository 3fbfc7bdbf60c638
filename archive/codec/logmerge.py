"""The merge step of the template miner: rare skeletons folded into free-text templates.

:func:`archive.codec.logparse.mine` groups lines by skeleton; :func:`merge` then folds *rare*
skeletons that differ in exactly one whitespace-separated unit into one template whose
differing unit becomes a free-text variable (``\\x14``): user and host names, process names.
It repeats until nothing merges.
"""
from __future__ import annotations

from itertools import accumulate
from typing import Final

import numpy as np

from archive.codec.logparse import Group, Ops

#: A group of at least this many lines is not merged at a unit that holds numeric variables.
KEEP_TYPED_ROWS: Final = 4
#: Only skeletons of fewer lines than this are merged, and a merge gathers at least
#: MERGE_MIN_TOTAL lines (see :func:`merge`).
MERGE_MAX_ROWS: Final = 8
MERGE_MIN_TOTAL: Final = 16


def _merge_value(unit, vals: list[list], n: int, ops: Ops) -> list:
    """Per-row text of one whitespace unit of a skeleton, given the slot values inside it."""
    pieces = ops.ph_split(unit)
    if not vals:
        return [unit] * n
    statics = [pieces[i] for i in range(0, len(pieces), 2)]
    empty = ops.empty
    out = []
    for row in zip(*vals):
        buf = [statics[0]]
        for v, s in zip(row, statics[1:]):
            buf.append(v)
            buf.append(s)
        out.append(empty.join(buf))
    return out


def _unit_keys(skel, u: list, ops: Ops) -> list:
    """One bucket key per mergeable unit: (position, the skeleton with that unit as ``\x14``)."""
    n = len(u)
    if n < 3:  # a single unit: nothing would stay static
        return []
    ends = list(accumulate(map(len, u)))
    ph_str = ops.ph_str
    return [(i, skel[: ends[i] - len(u[i])] + ph_str + skel[ends[i] :])
            for i in range(0, n, 2) if u[i] and u[i] != ph_str]


def merge(groups: list[Group], ops: Ops, max_rounds: int = 8) -> list[Group]:
    """Fold rare skeletons that differ in exactly one whitespace unit into one template.

    Only groups of fewer than :data:`MERGE_MAX_ROWS` lines (and groups merged before) take
    part, and a merge must gather at least :data:`MERGE_MIN_TOTAL` lines: near-identical rare
    lines cost less as dictionary text (zstd sees the repeats) than as columns, and frequent
    skeletons are better off as their own templates (measured on loghub).  Each round every
    group joins the largest bucket (lines, then groups) it shares with another group; later
    rounds only revisit buckets that gained a merged group.
    """
    groups = list(groups)
    n_mined = len(groups)
    units: list = [ops.ws_split(g.skeleton) if len(g.rows) < MERGE_MAX_ROWS else None
                   for g in groups]
    alive = [True] * len(groups)
    buckets: dict[tuple, list[int]] = {}

    def add(gi: int) -> list[tuple]:
        touched = []
        for k in _unit_keys(groups[gi].skeleton, units[gi], ops):
            b = buckets.setdefault(k, [])
            b.append(gi)
            if len(b) > 1:
                touched.append(k)
        return touched

    # two skeletons that differ in one unit have as many units and share the first or the
    # second half of them: only skeletons sharing a half with another one get bucket keys
    halves: dict[tuple, int] = {}
    hs: list[tuple[tuple, tuple] | None] = []
    for u in units:
        if u is None:
            hs.append(None)
            continue
        h = len(u) // 2
        pair = ((len(u), 0) + tuple(u[:h]), (len(u), 1) + tuple(u[h:]))
        hs.append(pair)
        for e in pair:
            halves[e] = halves.get(e, 0) + 1
    dirty: set = set()
    for gi, hp in enumerate(hs):
        if hp is not None and (halves[hp[0]] > 1 or halves[hp[1]] > 1):
            dirty.update(add(gi))
    ph_var = ops.ph_var
    for _ in range(max_rounds):
        if not dirty:
            break
        best: dict[int, tuple] = {}
        for key in dirty:
            i = key[0]
            # a large group whose unit holds numeric variables keeps them typed: it is not
            # turned into free text for the sake of rare variants (a UUID with a digit-less
            # group, a host name instead of an IP)
            members = [m for m in buckets[key] if alive[m]
                       and (len(groups[m].rows) < MERGE_MAX_ROWS or m >= n_mined)
                       and (len(groups[m].rows) < KEEP_TYPED_ROWS or ph_var not in units[m][i])]
            total = sum(len(groups[m].rows) for m in members)
            if len(members) < 2 or total < MERGE_MIN_TOTAL:
                continue
            score = (total, len(members), -i)
            for m in members:
                if m not in best or score > best[m][0]:
                    best[m] = (score, key)
        chosen: dict[tuple, list[int]] = {}
        for m, (_, key) in best.items():
            chosen.setdefault(key, []).append(m)
        dirty = set()
        for key, members in chosen.items():
            if len(members) < 2:
                continue
            i = key[0]
            ref = units[members[0]]
            members = [m for m in members
                       if all(a == b for j, (a, b) in enumerate(zip(units[m], ref)) if j != i)]
            if len(members) < 2:
                continue
            g = _merge_members([groups[m] for m in members], [units[m] for m in members], i, ops)
            for m in members:
                alive[m] = False
            groups.append(g)
            units.append(ops.ws_split(g.skeleton))
            alive.append(True)
            dirty.update(add(len(groups) - 1))
    out = [g for g, a in zip(groups, alive) if a]
    # first-appearance order, so template ids stay small and stable
    out.sort(key=lambda g: int(g.rows[0]))
    return out


def _merge_members(members: list[Group], units: list[list], i: int, ops: Ops) -> Group:
    """One group of ``members`` (same units but unit ``i``): that unit becomes a free-text
    slot holding each line's text of it, rows and slot values in ascending row order."""
    skel_units = list(units[0])
    skel_units[i] = ops.ph_str
    skel = ops.empty.join(skel_units)
    parts_rows, parts_slots = [], []
    for g, u in zip(members, units):
        before = sum(_nslots(unit, ops) for unit in u[:i])
        inside = _nslots(u[i], ops)
        n = len(g.rows)
        text = _merge_value(u[i], g.slots[before : before + inside], n, ops)
        parts_slots.append(g.slots[:before] + [text] + g.slots[before + inside :])
        parts_rows.append(g.rows)
    rows = np.concatenate(parts_rows)
    order = np.argsort(rows, kind="stable")
    nslots = len(parts_slots[0])
    slots = []
    for j in range(nslots):
        col = np.empty(len(rows), dtype=object)
        col[:] = [v for ps in parts_slots for v in ps[j]]
        slots.append(col[order].tolist())
    return Group(skel, rows[order], slots)


def _nslots(unit, ops: Ops) -> int:
    """How many variable slots a whitespace unit of a skeleton holds."""
    return unit.count(ops.ph_var) + unit.count(ops.ph_str)
