"""One timestamp at a time, in plain Python: what a point read of a str-time column needs.

:mod:`archive.codec.time_layout` renders and range-checks whole columns with numpy, whose
fixed cost per call (a few dozen array operations) dwarfs the work for one value.  These
give the same answers for one value (:func:`render_one`, equal to ``render_values`` of a
one-value column) and check a column's range from its extremes against bounds computed once
per layout (:func:`out_of_range`, equal to ``time_layout.out_of_range``).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from archive.codec.time_layout import (_MAX_OFFSET, _MONTHS, _WDAYS, Layout, civil_from_days,
                                       compile_layout, days_from_civil)

_NAMES = {"b": (_MONTHS, 1), "a": (_WDAYS, 0)}  # table, value of its first entry


def _digits(v: int, w: int) -> bytes:
    return b"%0*d" % (w, v % 10**w)  # the last w digits, as put_digits writes them


def render_one(lay: Layout, tick: int, tz: int) -> str:
    """The string of one in-range value (``render_values(lay, [tick], [tz])[0]``)."""
    secs, frac = divmod(tick, 10**lay.frac)
    days, sod = divmod(secs, 86400) if lay.has_date else (0, secs)
    y, mo, d = civil_from_days(days)
    val = {"Y": y, "y": y - 2000, "m": mo, "b": mo, "d": d, "e": d, "a": (days + 3) % 7,
           "H": sod // 3600, "M": sod // 60 % 60, "S": sod % 60, "f": frac}
    m = bytearray(lay.width)
    for col, byte in lay.literals:
        m[col] = byte
    for key, (col, w) in lay.fields.items():
        if key in "YymdHMSf":
            m[col : col + w] = _digits(val[key], w)
        elif key == "e":
            m[col : col + 2] = b" %d" % d if d < 10 else _digits(d, 2)
        elif key in _NAMES:
            table, first = _NAMES[key]
            i = min(max(val[key] - first, 0), len(table) // 3 - 1)
            m[col : col + 3] = table[3 * i : 3 * i + 3]
        else:  # z, Z
            a = abs(tz)
            m[col] = 45 if tz < 0 else 43
            m[col + 1 : col + 3] = _digits(a // 60, 2)
            if key == "Z":
                m[col + 3] = 58
            m[col + w - 2 : col + w] = _digits(a % 60, 2)
    if lay.var:  # the unpadded field: its leading zeros are fillers
        col, w = lay.fields[lay.var]
        v = val[lay.var]
        nd = 1 + sum(v >= 10**k for k in range(1, 10))
        m[col : col + max(w - nd, 0)] = bytes(max(w - nd, 0))
    return m.replace(b"\0", b"").decode("ascii")


@lru_cache(maxsize=512)
def tick_bounds(fmt: str) -> tuple[int, int] | None:
    """The smallest and largest ticks layout ``fmt`` can write (``None``: any int64).

    A layout with a four-digit year writes years 0-9999, a two-digit one 2000-2099, one with
    no date a time of day; a date without a year, any day.
    """
    lay = compile_layout(fmt)
    unit = 10**lay.frac
    if not lay.has_date:
        return 0, 86400 * unit - 1
    years = (0, 9999) if "Y" in lay.fields else (2000, 2099) if "y" in lay.fields else None
    if years is None:
        return None
    return days_from_civil(years[0], 1, 1) * 86400 * unit, days_from_civil(years[1] + 1, 1, 1) * 86400 * unit - 1


def out_of_range(lay: Layout, ticks: np.ndarray, tz: np.ndarray) -> bool:
    """Whether any value lies outside what ``lay`` can write (``time_layout.out_of_range``)."""
    if not len(ticks):
        return False
    bounds = tick_bounds(lay.fmt)
    if bounds is not None and (int(ticks.min()) < bounds[0] or int(ticks.max()) > bounds[1]):
        return True
    return lay.tz is not None and bool((np.abs(tz) > _MAX_OFFSET).any())
