"""Timestamp layouts for str-time (typed_time.py): the mini-language, vectorised parse and render.

``%Y`` year 0000-9999, ``%y`` year 2000-2099 as two digits, ``%m`` month 01-12, ``%b`` month
Jan-Dec, ``%d`` day 01-31, ``%e`` day space-padded (" 1"-"31"), ``%a`` weekday Mon-Sun
(derived from the date, so a wrong weekday does not parse), ``%H %M %S`` hour, minute, second,
``%1f``..``%9f`` fraction of a second with that many digits, ``%z`` offset +HHMM, ``%Z``
offset +HH:MM, ``%%`` a percent sign; any other printable ASCII character stands for itself.
One of ``%-d %-m %-H %-Nf`` may appear: that field is written without padding ("Nov 9",
``:7`` milliseconds), so the layout has ``N`` widths, one per digit count of that field.  Each
field appears at most once, at most one of a kind (``%Y``/``%y``, ``%m``/``%b``, ``%d``/``%e``,
``%z``/``%Z``).

A value is an int64 count of ticks of 10**-k seconds (k = N of the fraction, else 0) of *local*
wall-clock time: ``(days * 86400 + H * 3600 + M * 60 + S) * 10**k + fraction``, days counted
from 1970-01-01 in the proleptic Gregorian calendar.  A layout without a year counts from the
leap year 2000 (so Feb 29 parses); one with no date at all keeps the time of day only
(0 <= ticks < 86400 * 10**k).  ``%z``/``%Z`` offsets travel apart, in minutes.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import numpy as np

from archive.codec.typed_strings import (
    ascii_matrix,
    number,
    put_digits,
    rows_to_strings,
    same_rows,
)

_WIDTH: Final = {"Y": 4, "y": 2, "m": 2, "b": 3, "d": 2, "e": 2, "a": 3, "H": 2, "M": 2, "S": 2,
                 "z": 5, "Z": 6}
_DATE: Final = frozenset("Yymbdea")
_MONTHS: Final = b"JanFebMarAprMayJunJulAugSepOctNovDec"
_WDAYS: Final = b"MonTueWedThuFriSatSun"
MAX_LAYOUT: Final = 64
#: Largest offset ``%z``/``%Z`` can write, in minutes (+99:59).
_MAX_OFFSET: Final = 99 * 60 + 59


def _codes(names: bytes) -> np.ndarray:
    a = np.frombuffer(names, dtype=np.uint8).reshape(-1, 3).astype(np.int64)
    return (a[:, 0] << 16) | (a[:, 1] << 8) | a[:, 2]


_MONTH_CODES: Final = _codes(_MONTHS)
_WDAY_CODES: Final = _codes(_WDAYS)


@dataclass(frozen=True)
class Layout:
    fmt: str
    width: int
    fields: dict[str, tuple[int, int]]  # directive -> (column, width)
    literals: tuple[tuple[int, int], ...]  # (column, byte)
    frac: int  # ticks are 10**-frac seconds
    var: str | None  # the unpadded directive, if any (this layout is then its widest form)
    var_max: int

    @property
    def has_date(self) -> bool:
        return not _DATE.isdisjoint(self.fields)

    @property
    def tz(self) -> str | None:
        return "z" if "z" in self.fields else "Z" if "Z" in self.fields else None

    def forms(self) -> list[Layout]:
        """The fixed-width forms: this layout, or one per width of its unpadded field."""
        if self.var is None:
            return [self]
        return [compile_layout(self.fmt, w) for w in range(1, self.var_max + 1)]


@lru_cache(maxsize=512)
def compile_layout(fmt: str, var_width: int | None = None) -> Layout:
    """Parse a layout string (with its unpadded field ``var_width`` wide); ValueError if bad."""
    if len(fmt) > MAX_LAYOUT or not fmt.isascii() or not fmt.isprintable():
        raise ValueError(f"bad timestamp layout {fmt!r}")
    fields: dict[str, tuple[int, int]] = {}
    lits: list[tuple[int, int]] = []
    frac = col = i = var_max = 0
    var = None
    while i < len(fmt):
        if fmt[i] != "%":
            lits.append((col, ord(fmt[i])))
            col, i = col + 1, i + 1
            continue
        pad = fmt[i + 1 : i + 2] != "-"
        j = i + 1 + (not pad)
        d = fmt[j : j + 1]
        if d == "%" and pad:
            lits.append((col, 37))
            col, i = col + 1, j + 1
            continue
        if d and d in "123456789" and fmt[j + 1 : j + 2] == "f":
            d, w, i = "f", int(d), j + 2
            frac = w
        elif d and d in _WIDTH:
            w, i = _WIDTH[d], j + 1
        else:
            raise ValueError(f"bad directive in timestamp layout {fmt!r}")
        if not pad:
            if d not in "dmHf" or var is not None:
                raise ValueError(f"bad unpadded field in timestamp layout {fmt!r}")
            var, var_max = d, w
            if var_width is not None:
                if not 1 <= var_width <= w:
                    raise ValueError(f"width {var_width} for %-{d}")
                w = var_width
        if d in fields:
            raise ValueError(f"repeated %{d} in timestamp layout {fmt!r}")
        fields[d] = (col, w)
        col += w
    if col == 0 or any(sum(g in fields for g in grp) > 1 for grp in ("Yy", "mb", "de", "zZ")):
        raise ValueError(f"bad timestamp layout {fmt!r}")
    return Layout(fmt, col, fields, tuple(lits), frac, var, var_max)


def days_from_civil(y: Any, m: Any, d: Any) -> Any:
    """Day count from 1970-01-01 of (year, month, day): int64 arrays or Python ints alike."""
    y = y - (m <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((m + 9) % 12) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def civil_from_days(days: Any) -> tuple[Any, Any, Any]:
    """(year, month, day) of day counts from 1970-01-01: int64 arrays or Python ints alike."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 - 12 * (mp >= 10)
    return yoe + era * 400 + (m <= 2), m, d


def _ndigits(v: np.ndarray) -> np.ndarray:
    return 1 + sum((v >= 10**k).astype(np.int64) for k in range(1, 10))


def _name(m: np.ndarray, col: int, codes: np.ndarray) -> np.ndarray:
    """1-based index of the 3-letter name at ``col`` in ``codes``, 0 when none."""
    c = m[:, col : col + 3].astype(np.int64)
    hit = ((c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2])[:, None] == codes
    return np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, 0)


def parse_layout(lay: Layout, m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ok, ticks, offset minutes) for each row of an (n, width) ASCII matrix (one fixed form).

    Fields are read without validation (a stray byte just gives a wrong number); a row is ok
    only when rendering what was read gives back exactly its bytes, which checks every literal,
    digit, range and calendar rule at once.
    """
    n = len(m)
    val: dict[str, np.ndarray] = {}
    for f, (col, w) in lay.fields.items():
        if f in "YymdHMSf":
            val[f] = number(m, col, w)
        elif f == "e":
            val[f] = number(m, col, 2) + np.where(m[:, col] == 32, 160, 0)  # " 7": space = -16
        elif f in "ba":
            val[f] = _name(m, col, _MONTH_CODES if f == "b" else _WDAY_CODES)
        else:  # z, Z
            hhmm = number(m, col + 1, 2) * 60 + number(m, col + (4 if f == "Z" else 3), 2)
            val[f] = np.where(m[:, col] == 45, -hhmm, hhmm)
    zero = np.zeros(n, dtype=np.int64)
    secs = val.get("H", zero) * 3600 + val.get("M", zero) * 60 + val.get("S", zero)
    if lay.has_date:
        year = val["Y"] if "Y" in val else val["y"] + 2000 if "y" in val else zero + 2000
        month = val.get("m", val.get("b", zero + 1))
        day = val.get("d", val.get("e", zero + 1))
        secs = secs + days_from_civil(year, month, day) * 86400
    fits = np.abs(secs) < (2**63 - 1) // 10**lay.frac - 1
    ticks = np.where(fits, secs, 0) * 10**lay.frac + np.where(fits, val.get("f", zero), 0)
    tz = val[lay.tz] if lay.tz else zero
    rend, bad = render_layout(lay, ticks, tz)
    return fits & ~bad & same_rows(rend, m), ticks, tz


#: Day counts spanning fewer days than this (and than the values) are turned into dates once
#: per day and gathered: a chunk of timestamps usually covers a day or two.
_DAY_TABLE: Final = 4096


def _dates(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`civil_from_days` of an int64 array, computed once per distinct day of a short
    span (a table lookup), else elementwise; the same values either way."""
    n = len(days)
    if n >= 64:
        lo = int(days.min())
        span = int(days.max()) - lo + 1
        if span == 1:  # one day: the usual chunk of a log
            y, mo, d = civil_from_days(lo)
            return np.full(n, y, np.int64), np.full(n, mo, np.int64), np.full(n, d, np.int64)
        if span <= min(n, _DAY_TABLE):
            y, mo, d = civil_from_days(np.arange(lo, lo + span, dtype=np.int64))
            i = days - lo
            return y[i], mo[i], d[i]
    return civil_from_days(days)


def _fields(lay: Layout, ticks: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The value of each field of ``lay`` for these ticks, and which rows are out of the
    layout's range.  Values known to lie in 0..10**width-1 (time of day, month, day, fraction)
    come as ``uint32``, which :func:`put_digits` writes without a modulo."""
    n = len(ticks)
    fields = lay.fields
    if lay.frac:
        secs, frac = np.divmod(ticks, 10**lay.frac)
    else:
        secs, frac = ticks, None
    bad = np.zeros(n, dtype=bool)
    val: dict[str, np.ndarray] = {}
    if lay.has_date:
        days, sod = np.divmod(secs, 86400)
        y, mo, d = _dates(days)
        val["b"] = mo
        val["m"] = mo.astype(np.uint32)
        val["d"] = val["e"] = d.astype(np.uint32)
        if "a" in fields:
            val["a"] = (days + 3) % 7
        if "Y" in fields:
            ybad = (y < 0) | (y > 9999)
            val["Y"] = y if ybad.any() else y.astype(np.uint32)
            bad |= ybad
        if "y" in fields:
            ybad = (y < 2000) | (y > 2099)
            val["y"] = y - 2000 if ybad.any() else (y - 2000).astype(np.uint32)
            bad |= ybad
    else:
        sod = secs
        bad |= (sod < 0) | (sod >= 86400)
        sod = np.where(bad, 0, sod)  # bad rows may render anything; the others are in range
    minutes = (sod // 60).astype(np.uint32)
    val["S"] = sod.astype(np.uint32) - minutes * np.uint32(60)
    val["H"] = minutes // np.uint32(60)
    val["M"] = minutes - val["H"] * np.uint32(60)
    if frac is not None:
        val["f"] = frac.astype(np.uint32)
    return val, bad


#: Columns at least this long whose ticks fall in at most a quarter as many distinct minutes
#: render each minute once (date and time up to the minute, from a table) and only the
#: seconds, fraction and offset row by row.
_MINUTE_TABLE_MIN: Final = 256
#: The fields that vary within a minute (the others depend on the minute alone).
_ROW_FIELDS: Final = frozenset("SfzZ")
_I64_MIN: Final = -(1 << 63)


def render_layout(lay: Layout, ticks: np.ndarray, tz: np.ndarray, unpad: bool = False
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The (n, width) ASCII matrix of these values in one fixed form, and which rows are bad
    (out of range, or an unpadded field with another digit count than this form's).  With
    ``unpad`` the unpadded field's leading zeros are NUL fillers instead (any digit count)."""
    n = len(ticks)
    if n >= _MINUTE_TABLE_MIN:
        per_min = 60 * 10**lay.frac
        minutes = ticks // per_min
        lo = int(minutes.min())
        span = int(minutes.max()) - lo + 1
        if span <= n // 4 and lo * per_min >= _I64_MIN:
            starts = np.arange(lo, lo + span, dtype=np.int64) * per_min
            val, tbad = _fields(lay, starts)
            table = np.empty((span, lay.width), dtype=np.uint8)
            _put_fields(lay, table, tbad, val, None, unpad, minute=True)
            idx = minutes - lo
            m = table.take(idx, axis=0)
            bad = tbad[idx]
            secs, frac = np.divmod(ticks - minutes * per_min, 10**lay.frac)
            val = {"S": secs.astype(np.uint32), "f": frac.astype(np.uint32)}
            _put_fields(lay, m, bad, val, tz, unpad, minute=False)
            return m, bad
    val, bad = _fields(lay, ticks)
    m = np.empty((n, lay.width), dtype=np.uint8)
    _put_fields(lay, m, bad, val, tz, unpad, minute=None)
    return m, bad


def _put_fields(lay: Layout, m: np.ndarray, bad: np.ndarray, val: dict[str, np.ndarray],
                tz: np.ndarray | None, unpad: bool, minute: bool | None) -> None:
    """Write the fields of ``lay`` into ``m`` and flag the rows out of range in ``bad``: the
    literals and the fields that depend on the minute alone (``minute`` true), the others
    (false), or all (``None``)."""
    if minute is not False:
        for col, byte in lay.literals:
            m[:, col] = byte
    for key, (col, w) in lay.fields.items():
        if minute is not None and (key in _ROW_FIELDS) == minute:
            continue
        if key in "zZ":
            if tz is None:
                raise ValueError("offsets are rendered row by row")
            bad |= np.abs(tz) > _MAX_OFFSET
            a = np.abs(tz)
            m[:, col] = np.where(tz < 0, 45, 43)
            put_digits(m, col + 1, 2, a // 60)
            if key == "Z":
                m[:, col + 3] = 58
            put_digits(m, col + w - 2, 2, a % 60)
            continue
        v = val[key]
        if key in "YymdHMSf":
            put_digits(m, col, w, v)
        elif key == "e":
            put_digits(m, col, 2, v)
            m[v < 10, col] = 32
        else:  # b, a
            table = np.frombuffer(_MONTHS if key == "b" else _WDAYS, np.uint8).reshape(-1, 3)
            m[:, col : col + 3] = table[np.clip(v - (key == "b"), 0, len(table) - 1)]
    if lay.var and (minute is None or (lay.var in _ROW_FIELDS) != minute):
        col, w = lay.fields[lay.var]
        nd = _ndigits(val[lay.var])
        if unpad:
            m[:, col : col + w][np.arange(w) < w - nd[:, None]] = 0
        else:
            bad |= nd != w


def parse_values(lay: Layout, values: np.ndarray, lens: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ok, ticks, offsets) of ASCII strings in any fixed form of ``lay``."""
    n = len(values)
    ok = np.zeros(n, dtype=bool)
    ticks = np.zeros(n, dtype=np.int64)
    tz = np.zeros(n, dtype=np.int64)
    for form in lay.forms():
        hit = lens == form.width
        if hit.all():  # the usual case: one form for the whole column
            m = ascii_matrix(values.tolist(), form.width, lens)
            return parse_layout(form, m)
        rows = np.flatnonzero(hit)
        if len(rows):
            m = ascii_matrix(values[rows].tolist(), form.width, lens[rows])
            ok[rows], ticks[rows], tz[rows] = parse_layout(form, m)
    return ok, ticks, tz


def out_of_range(lay: Layout, ticks: np.ndarray, tz: np.ndarray) -> bool:
    """Whether any of these values lies outside what ``lay`` can write, i.e. whether
    ``render_layout(lay, ticks, tz, unpad=True)`` flags any row bad.

    Decided from the extremes alone: the year and the time of day (for a layout without a
    date) only grow with the ticks, so a value is out of range iff the smallest or the largest
    is; offsets are checked as :func:`render_layout` does.
    """
    if not len(ticks):
        return False
    if _fields(lay, np.array([ticks.min(), ticks.max()], dtype=np.int64))[1].any():
        return True
    return lay.tz is not None and bool((np.abs(tz) > _MAX_OFFSET).any())


def render_values(lay: Layout, ticks: np.ndarray, tz: np.ndarray) -> list[str]:
    """The strings of these values (an unpadded field as short as it is); values must be in
    range (see :func:`out_of_range`)."""
    return rows_to_strings(render_layout(lay, ticks, tz, unpad=True)[0])
