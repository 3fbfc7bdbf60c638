"""Timestamps kept as text: str-time (128), one fixed-width layout per chunk.

Typed part of the body (after the exceptions, see typed_strings.py)::

    u8 f, f bytes   the layout, a format string (ASCII) in the mini-language below
    sub: ticks      int, one per typed value (see below)
    sub: offsets    int, minutes east of UTC; only when the layout has %z or %Z

The layout language: ``%Y`` year 0000-9999, ``%y`` year 2000-2099 as two digits, ``%m`` month
01-12, ``%b`` month Jan-Dec, ``%d`` day 01-31, ``%e`` day space-padded (" 1"-"31"), ``%a``
weekday Mon-Sun (derived from the date, so a wrong weekday is an exception), ``%H %M %S``
hour, minute, second (two digits), ``%1f``..``%9f`` fraction of a second with that many
digits, ``%z`` offset +HHMM, ``%Z`` offset +HH:MM, ``%%`` a percent sign; any other printable
ASCII character stands for itself.  Each field appears at most once; a layout has a fixed width.

Ticks are the *local* wall-clock time as an integer count of 10**-k seconds (k the fraction
digits, 0 without a fraction): ``(days * 86400 + H * 3600 + M * 60 + S) * 10**k + fraction``
with days since 1970-01-01 in the proleptic Gregorian calendar, so sorted logs give small
deltas.  A layout with no year counts from the leap year 2000 (so Feb 29 parses); one with no
date at all stores only the time of day (0 <= ticks < 86400 * 10**k).

The layout is inferred per chunk: a regular expression over a sample of values proposes
layouts (ISO 8601 with T or space, ``,`` or ``.`` or ``:`` before the fraction, Z or offsets;
log4j; compact ``%Y%m%d``/``%y%m%d``; ``%b %e`` syslog; ctime; Apache ``%d/%b/%Y:``; slash
and dotted dates, ambiguous orders all proposed), the most frequent are tried on the sample,
and the best one parses the whole column.  Only one layout per chunk: values in another
layout are exceptions (plain strings).  Parsing and rendering are numpy over the ASCII matrix;
a value is typed only when rendering what was parsed gives back exactly its bytes.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import numpy as np

from archive.codec.framing import Reader, Writer
from archive.codec.registry import register
from archive.codec.strings import decode_int, encode_int
from archive.codec.typed_strings import (
    MIN_TYPED, TIME, TypedString, ascii_matrix, digits, put_digits, rows_to_strings, strided,
)
from archive.errors import CorruptChunkError

_WIDTH: Final = {"Y": 4, "y": 2, "m": 2, "b": 3, "d": 2, "e": 2, "a": 3, "H": 2, "M": 2, "S": 2,
                 "z": 5, "Z": 6}
_DATE: Final = frozenset("Yymbdea")
_MONTHS: Final = b"JanFebMarAprMayJunJulAugSepOctNovDec"
_WDAYS: Final = b"MonTueWedThuFriSatSun"
_MAX_LAYOUT: Final = 64
#: Layouts proposed by the sample that are tried on it before the best parses the column.
_TRY: Final = 4


def _codes(names: bytes) -> np.ndarray:
    a = np.frombuffer(names, dtype=np.uint8).reshape(-1, 3).astype(np.int64)
    return (a[:, 0] << 16) | (a[:, 1] << 8) | a[:, 2]


_MONTH_CODES: Final = _codes(_MONTHS)
_WDAY_CODES: Final = _codes(_WDAYS)


@dataclass(frozen=True)
class Layout:
    width: int
    fields: dict[str, int]  # directive -> column
    literals: tuple[tuple[int, int], ...]  # (column, byte)
    frac: int  # fraction digits (k)

    @property
    def has_date(self) -> bool:
        return not _DATE.isdisjoint(self.fields)

    @property
    def tz(self) -> str | None:
        return "z" if "z" in self.fields else "Z" if "Z" in self.fields else None


@lru_cache(maxsize=256)
def compile_layout(fmt: str) -> Layout:
    """Parse a layout string; ValueError (CorruptChunkError when decoding) if it is not one."""
    if len(fmt) > _MAX_LAYOUT or not fmt.isascii() or not fmt.isprintable():
        raise ValueError(f"bad timestamp layout {fmt!r}")
    fields: dict[str, int] = {}
    lits: list[tuple[int, int]] = []
    frac, col, i = 0, 0, 0
    while i < len(fmt):
        c = fmt[i]
        if c != "%":
            lits.append((col, ord(c)))
            col, i = col + 1, i + 1
            continue
        d = fmt[i + 1 : i + 2]
        if d == "%":
            lits.append((col, 37))
            col, i = col + 1, i + 2
            continue
        if d in "123456789" and d and fmt[i + 2 : i + 3] == "f":
            d, w, i = "f", int(d), i + 3
            frac = w
        elif d in _WIDTH and d:
            w, i = _WIDTH[d], i + 2
        else:
            raise ValueError(f"bad directive in timestamp layout {fmt!r}")
        if d in fields:
            raise ValueError(f"repeated %{d} in timestamp layout {fmt!r}")
        fields[d] = col
        col += w
    groups = ("Yy", "mb", "de", "zZ")
    if col == 0 or any(sum(g in fields for g in grp) > 1 for grp in groups):
        raise ValueError(f"bad timestamp layout {fmt!r}")
    return Layout(col, fields, tuple(lits), frac)


def days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    y = y - (m <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((m + 9) % 12) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def civil_from_days(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = np.where(mp < 10, mp + 3, mp - 9)
    return yoe + era * 400 + (m <= 2), m, d


def _name(m: np.ndarray, col: int, codes: np.ndarray) -> np.ndarray:
    """1-based index of the 3-letter name at ``col`` in ``codes``, 0 when none."""
    c = m[:, col : col + 3].astype(np.int64)
    hit = ((c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2])[:, None] == codes
    return np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, 0)


def parse_layout(lay: Layout, m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ok, ticks, offset minutes) for each row of an (n, width) ASCII matrix."""
    n = len(m)
    ok = np.ones(n, dtype=bool)
    for col, byte in lay.literals:
        ok &= m[:, col] == byte
    val: dict[str, np.ndarray] = {}
    for f, col in lay.fields.items():
        if f in "YymdHMS":
            val[f], good = digits(m, col, _WIDTH[f])
        elif f == "f":
            val[f], good = digits(m, col, lay.frac)
        elif f == "e":
            hi, lo = m[:, col].astype(np.int64) - 48, m[:, col + 1].astype(np.int64) - 48
            val[f] = np.where(hi == -16, 0, hi) * 10 + lo  # -16: a space
            good = ((hi == -16) | ((hi >= 0) & (hi <= 9))) & (lo >= 0) & (lo <= 9)
        elif f in "ba":
            val[f] = _name(m, col, _MONTH_CODES if f == "b" else _WDAY_CODES)
            good = val[f] > 0
        else:  # z, Z
            hh, g1 = digits(m, col + 1, 2)
            mm, g2 = digits(m, col + (4 if f == "Z" else 3), 2)
            sign = m[:, col]
            good = g1 & g2 & ((sign == 43) | (sign == 45))
            val[f] = np.where(sign == 45, -1, 1) * (hh * 60 + mm)
        ok &= good
    zero = np.zeros(n, dtype=np.int64)
    secs = val.get("H", zero) * 3600 + val.get("M", zero) * 60 + val.get("S", zero)
    if lay.has_date:
        year = val["Y"] if "Y" in val else val["y"] + 2000 if "y" in val else zero + 2000
        month = val.get("m", val.get("b", zero + 1))
        day = val.get("d", val.get("e", zero + 1))
        secs = secs + days_from_civil(year, month, day) * 86400
    limit = (2**63 - 1) // 10**lay.frac - 1
    ok &= np.abs(secs) < limit
    ticks = np.where(ok, secs, 0) * 10**lay.frac + np.where(ok, val.get("f", zero), 0)
    tz = val.get(lay.tz or "", zero) if lay.tz else zero
    rend, bad = render_layout(lay, ticks, tz)
    ok &= ~bad & (rend == m).all(axis=1)
    return ok, ticks, tz


def render_layout(lay: Layout, ticks: np.ndarray, tz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (n, width) ASCII matrix of these values, and which rows are out of range."""
    n = len(ticks)
    m = np.empty((n, lay.width), dtype=np.uint8)
    for col, byte in lay.literals:
        m[:, col] = byte
    secs, frac = np.divmod(ticks, 10**lay.frac)
    bad = np.zeros(n, dtype=bool)
    if lay.has_date:
        days, sod = np.divmod(secs, 86400)
    else:
        days, sod = np.zeros(n, dtype=np.int64), secs
        bad |= (sod < 0) | (sod >= 86400)
    y, mo, d = civil_from_days(days)
    f = lay.fields
    if "Y" in f:
        bad |= (y < 0) | (y > 9999)
    if "y" in f:
        bad |= (y < 2000) | (y > 2099)
    for key, v in (("Y", y), ("y", y - 2000), ("m", mo), ("d", d), ("H", sod // 3600),
                   ("M", sod // 60 % 60), ("S", sod % 60), ("f", frac)):
        if key in f:
            put_digits(m, f[key], lay.frac if key == "f" else _WIDTH[key], v)
    if "e" in f:
        put_digits(m, f["e"], 2, d)
        m[d < 10, f["e"]] = 32
    for key, names, idx in (("b", _MONTHS, mo - 1), ("a", _WDAYS, (days + 3) % 7)):
        if key in f:
            table = np.frombuffer(names, dtype=np.uint8).reshape(-1, 3)
            m[:, f[key] : f[key] + 3] = table[np.clip(idx, 0, len(table) - 1)]
    if lay.tz:
        col = f[lay.tz]
        bad |= np.abs(tz) > 99 * 60 + 59
        a = np.abs(tz)
        m[:, col] = np.where(tz < 0, 45, 43)
        put_digits(m, col + 1, 2, a // 60)
        if lay.tz == "Z":
            m[:, col + 3] = 58
        put_digits(m, col + (4 if lay.tz == "Z" else 3), 2, a % 60)
    return m, bad


# --------------------------------------------------------------------------- layout inference

_MON = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_DATES: Final = (  # (regex, layouts with {s} for the separator group)
    (r"\d{4}(?P<s0>[-/.])\d\d(?P=s0)\d\d", ("%Y{s}%m{s}%d",)),
    (r"\d{8}", ("%Y%m%d",)),
    (r"\d{6}", ("%y%m%d",)),
    (r"\d\d(?P<s3>[-/.])\d\d(?P=s3)\d{4}", ("%d{s}%m{s}%Y", "%m{s}%d{s}%Y")),
    (r"\d\d(?P<s4>[-/.])\d\d(?P=s4)\d\d", ("%y{s}%m{s}%d", "%d{s}%m{s}%y", "%m{s}%d{s}%y")),
    (r"\d\d(?P<s5>[-/.])\d\d", ("%m{s}%d", "%d{s}%m")),
    (rf"\d\d(?P<s6>[-/ ]){_MON}(?P=s6)\d{{4}}", ("%d{s}%b{s}%Y",)),
    (rf"{_MON} \d\d", ("%b %d", "%b %e")),
    (rf"{_MON}  \d", ("%b %e",)),
)
_INFER: Final = re.compile(
    r"(?P<pre>[\[(<\"']?)(?:(?P<wd>Mon|Tue|Wed|Thu|Fri|Sat|Sun)(?P<wds>,? ))?"
    + "(?:" + "|".join(f"(?P<d{i}>{rx})" for i, (rx, _) in enumerate(_DATES)) + ")?"
    + r"(?P<dsep>T| |-|:|_|, )??"
    + r"(?P<time>\d\d(?P<ts>[:.])\d\d(?:(?P=ts)\d\d)?|\d{6})?"
    + r"(?:(?P<fs>[.,:])(?P<frac>\d{1,9}))?"
    + r"(?P<zone>Z| ?[+-]\d\d:?\d\d| UTC| GMT)?(?P<year> \d{4})?(?P<post>[\])>\"']?)"
)


def infer_layouts(s: str) -> list[str]:
    """Layout strings that may describe ``s`` (the round trip decides which really do)."""
    mt = _INFER.fullmatch(s)
    if mt is None or not (mt["time"] or any(mt[f"d{i}"] for i in range(len(_DATES)))):
        return []
    g = mt.groupdict(default="")
    dates = [""]
    for i, (_, lays) in enumerate(_DATES):
        if g[f"d{i}"]:
            sep = next((g[k] for k in (f"s{i}",) if k in g), "")
            dates = [lay.replace("{s}", sep) for lay in lays]
    if g["dsep"] and not (g["time"] and dates != [""]):
        return []
    time = ""
    if g["time"]:
        t = g["ts"]
        time = f"%H{t}%M{t}%S" if len(g["time"]) > 5 or not t else f"%H{t}%M"
    frac = f"{g['fs']}%{len(g['frac'])}f" if g["frac"] else ""
    z = g["zone"]
    zone = z if z in ("Z", " UTC", " GMT") else (" " if z.startswith(" ") else "") + (
        "%Z" if ":" in z else "%z") if z else ""
    year = " %Y" if g["year"] else ""
    wd = f"%a{g['wds']}" if g["wd"] else ""
    return [f"{g['pre']}{wd}{d}{g['dsep']}{time}{frac}{zone}{year}{g['post']}" for d in dates]


@register
class StrTime(TypedString):
    codec_id = TIME
    name = "str-time"
    min_len, max_len = 5, _MAX_LAYOUT

    def parse(self, items: list[str], lens: np.ndarray) -> tuple[np.ndarray, Any] | None:
        sample = strided(np.arange(len(items)))
        votes: Counter[str] = Counter()
        for i in sample[:64]:
            votes.update(infer_layouts(items[i]))
        best: tuple[int, str] | None = None
        for fmt, _ in votes.most_common(_TRY):
            lay = compile_layout(fmt)
            rows = sample[lens[sample] == lay.width]
            good = int(parse_layout(lay, ascii_matrix([items[i] for i in rows], lay.width,
                                                      lens[rows]))[0].sum())
            if best is None or good > best[0]:
                best = (good, fmt)
        if best is None or best[0] < MIN_TYPED * len(sample):
            return None
        fmt = best[1]
        lay = compile_layout(fmt)
        group = np.flatnonzero(lens == lay.width)
        gok, ticks, tz = parse_layout(lay, ascii_matrix([items[i] for i in group], lay.width,
                                                        lens[group]))
        ok = np.zeros(len(items), dtype=bool)
        ok[group[gok]] = True
        return ok, (fmt, ticks[gok], tz[gok] if lay.tz else None)

    def write(self, w: Writer, state: Any, ok: np.ndarray, depth: int) -> None:
        fmt, ticks, tz = state
        w.u8(len(fmt))
        w.raw(fmt.encode("ascii"))
        w.blob(encode_int(ticks, depth))
        if tz is not None:
            w.blob(encode_int(tz, depth))

    def read(self, r: Reader, n: int, depth: int) -> list[str]:
        raw = bytes(r.raw(r.u8()))
        try:
            lay = compile_layout(raw.decode("ascii"))
        except ValueError as e:
            raise CorruptChunkError(str(e)) from None
        ticks = decode_int(r, n, depth)
        tz = decode_int(r, n, depth) if lay.tz else np.zeros(n, dtype=np.int64)
        m, bad = render_layout(lay, ticks, tz)
        if bad.any():
            raise CorruptChunkError(f"timestamp out of the range of layout {raw!r}")
        return rows_to_strings(m)
