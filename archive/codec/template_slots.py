"""Typing the mined slots of a template column (the encode side of archive.codec.templates).

:func:`finalize` turns the skeleton groups of :mod:`archive.codec.logparse` /
:mod:`archive.codec.logmerge` into final templates: each slot becomes a typed column
(decimal or hex numbers of one zero-padded width, digit strings, or free text), a value that
never changes is folded into the template text, and a slot always equal to an earlier slot
of its line becomes a back-reference.  Slots are typed together across templates by their
analysis key, the skeleton up to and including the placeholder (see the module docstring of
:mod:`archive.codec.templates`).
"""
from __future__ import annotations

from itertools import accumulate, chain, repeat
from typing import Final

import numpy as np

from archive.codec.logparse import (
    MAX_DIGITS,
    MAX_REF,
    MAX_WIDTH,
    PARAM_BASE,
    PH_DSTR,
    PH_HEX,
    PH_HEXU,
    PH_INT,
    PH_REF,
    PH_STR,
    Group,
    Ops,
)

__all__ = ["finalize"]

_P10: Final = np.array([10**k for k in range(1, 20)], dtype=np.uint64)
_P16: Final = np.array([16**k for k in range(1, 16)], dtype=np.uint64)


def _try_numeric(raw: list, ops: Ops, base: int):
    """``(type, width, int64 array)`` when ``raw`` are numbers of one zero-padded width.

    Every check is vectorized: a token round-trips through ``%0{w}d`` / ``%0{w}x`` exactly
    when it has only digits (and a leading ``-``), and its length is the canonical length of
    its value or, if shorter than ``w``, ``w`` -- except ``-0``, which has no signed form.
    """
    joined = ops.empty.join(raw)
    if not (ops.dec_only if base == 10 else ops.hex_only)(joined):
        return None
    try:
        if base == 10:
            arr = np.array(list(map(int, raw)), dtype=np.int64)
        else:
            arr = np.array(list(map(int, raw, repeat(16, len(raw)))), dtype=np.uint64)
    except (ValueError, OverflowError):
        return None
    if base == 10:
        neg = arr < 0
        mag = np.where(neg, (-(arr + 1)).astype(np.uint64) + np.uint64(1), arr.astype(np.uint64))
        canon = np.searchsorted(_P10, mag, side="right") + 1 + neg
        typ = PH_INT
    else:
        canon = np.searchsorted(_P16, arr, side="right") + 1
        if joined.lower() == joined:
            typ = PH_HEX
        elif joined.upper() == joined:
            typ = PH_HEXU
        else:
            return None
    lengths = np.fromiter(map(len, raw), dtype=np.int64, count=len(raw))
    width = 1
    odd = lengths != canon
    if odd.any():
        pads = lengths[odd]
        width = int(pads[0])
        if width > MAX_WIDTH or not (pads == width).all():
            return None
        if not (lengths == np.maximum(canon, width)).all():
            return None
    if base == 10:
        for k in np.flatnonzero((arr == 0) & (lengths > 1)).tolist():
            if raw[k][:1] == ops.minus:
                return None
    return typ, width, arr.view(np.int64)


def _try_digits(raw: list, ops: Ops):
    """``(PH_DSTR, 0, 2 x n int64 array of lengths and values)`` for digit strings."""
    lengths = np.fromiter(map(len, raw), dtype=np.int64, count=len(raw))
    if not ops.digits_only(ops.empty.join(raw)) or lengths.min() < 1 or lengths.max() > MAX_DIGITS:
        return None
    return PH_DSTR, 0, np.stack([lengths, np.array(list(map(int, raw)), dtype=np.int64)])


def _type_column(lists: list[list], untyped: bool, ops: Ops):
    """Decide how one analysis column is stored: ('const', v) or (type, width, arrays)."""
    first = lists[0][0]
    if all(raw.count(first) == len(raw) for raw in lists) and not ops.reserved(first):
        return ("const", first)
    flat = lists[0] if len(lists) == 1 else list(chain.from_iterable(lists))
    got = None
    if untyped:
        got = _try_numeric(flat, ops, 10) or _try_numeric(flat, ops, 16) or _try_digits(flat, ops)
    if got is None:
        arr = np.empty(len(flat), dtype=object)
        arr[:] = flat
        got = (PH_STR, 0, arr)
    typ, width, arr = got
    if len(lists) == 1:
        return typ, width, [arr]
    ends = list(accumulate(map(len, lists)))
    return typ, width, [arr[..., e - len(raw) : e] for e, raw in zip(ends, lists)]


def _placeholder_positions(skel, ops: Ops) -> list[int]:
    """Indices of the one-character placeholders of a mined skeleton."""
    return [m.start() for m in ops.slot_iter(skel)]


def finalize(groups: list[Group], ops: Ops) -> list:
    """Type, fold and back-reference the slots of ``groups``.

    Returns ``[(template, rows, [(type, width, values), ...])]``, one item per distinct final
    template: ``rows`` ascending, one slot per placeholder of the template (a
    back-reference's ``width`` is its target slot, its values None).
    """
    # analysis columns: key = skeleton up to and including the placeholder
    positions = [_placeholder_positions(g.skeleton, ops) for g in groups]
    analysis: dict = {}
    for gi, (g, pos) in enumerate(zip(groups, positions)):
        for j, p in enumerate(pos):
            analysis.setdefault(g.skeleton[: p + 1], []).append((gi, j))
    decided: list[list] = [[None] * len(pos) for pos in positions]
    ph_var = ops.ph_var
    for key, members in analysis.items():
        if len(members) == 1:
            gi, j = members[0]
            raw = groups[gi].slots[j]
            if len(raw) == 1 and not ops.reserved(raw[0]):  # one line: template text
                decided[gi][j] = ("const", raw[0])
                continue
        res = _type_column([groups[gi].slots[j] for gi, j in members], key[-1:] == ph_var, ops)
        if res[0] == "const":
            for gi, j in members:
                decided[gi][j] = res
        else:
            typ, width, arrays = res
            for (gi, j), a in zip(members, arrays):
                decided[gi][j] = (typ, width, a)
    out = []
    params: dict = {}
    for gi, (g, pos) in enumerate(zip(groups, positions)):
        pieces = []
        start = 0
        slots: list[tuple] = []  # (type, width, values) of the final slots
        by_first: dict = {}  # first value -> final slots (not refs) starting with it
        skel = g.skeleton
        for j, p in enumerate(pos):
            pieces.append(skel[start:p])
            start = p + 1
            d = decided[gi][j]
            if d[0] == "const":
                pieces.append(d[1])
                continue
            raw = g.slots[j]
            ref = None
            for k in by_first.get(raw[0], ()):
                if g.slots[k[1]] == raw:
                    ref = k[0]
                    break
            if ref is not None:
                d = (PH_REF, ref, None)
            elif len(slots) < MAX_REF:
                by_first.setdefault(raw[0], []).append((len(slots), j))
            key = d[:2]
            ph = params.get(key)
            if ph is None:
                ph = params[key] = _param(ops, d[0], d[1])
            pieces.append(ph)
            slots.append(d)
        pieces.append(skel[start:])
        out.append((ops.empty.join(pieces), g.rows, slots))
    return _dedup(out)


def _dedup(items: list) -> list:
    """Join items whose final templates coincide (folding can make two skeletons equal)."""
    by_t: dict = {}
    for it in items:
        by_t.setdefault(it[0], []).append(it)
    if len(by_t) == len(items):
        return items
    res = []
    for t, its in by_t.items():
        if len(its) == 1:
            res.append(its[0])
            continue
        rows = np.concatenate([it[1] for it in its])
        order = np.argsort(rows, kind="stable")
        slots: list[tuple] = []
        for j, (typ, w, _) in enumerate(its[0][2]):
            if typ == PH_REF:
                slots.append((typ, w, None))
            else:
                vals = np.concatenate([it[2][j][2] for it in its], axis=-1)
                slots.append((typ, w, vals[..., order]))
        res.append((t, rows[order], slots))
    res.sort(key=lambda it: int(it[1][0]))
    return res


def _param(ops: Ops, typ: str, p: int):
    """The two-character placeholder of type ``typ`` with parameter ``p``."""
    return ops.c(typ + chr(PARAM_BASE + p))
