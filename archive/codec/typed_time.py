"""Timestamps kept as text: str-time (128), one layout per chunk.

Typed part of the body (after the exceptions, see typed_strings.py)::

    u8 f, f bytes   the layout, a format string (ASCII): the language of time_layout.py
    sub: ticks      int, one per typed value (see time_layout.py)
    sub: offsets    int, minutes east of UTC; only when the layout has %z or %Z

The layout is inferred per chunk: a regular expression over a sample of values proposes
layouts (ISO 8601 with T or space; ``.`` ``,`` or ``:`` before the fraction; Z or offsets;
log4j; compact ``%Y%m%d``/``%y%m%d``; syslog ``%b %e`` and ``%b %-d``; ctime; Apache
``%d/%b/%Y:``; slash and dotted dates, every ambiguous order proposed), the most voted are
tried on the sample, and the one that parses most parses the whole column.  One layout per
chunk: values in another layout are exceptions (plain strings).  Parsing and rendering are
numpy over the ASCII matrix; a value is typed only when rendering what was parsed gives back
exactly its bytes.
"""
from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import Any, Final

import numpy as np

from archive.codec.framing import Reader, Writer
from archive.codec.ints import decode_int_sub, encode_int_sub
from archive.codec.registry import register
from archive.codec.time_layout import (
    MAX_LAYOUT,
    Layout,
    compile_layout,
    parse_values,
    render_values,
)
from archive.codec.time_scalar import out_of_range, render_one
from archive.codec.typed_strings import TIME, TypedString, strided
from archive.errors import CorruptChunkError

#: Layouts proposed by the sample that are tried on it before the best parses the column.
_TRY: Final = 4
#: Sample values whose layouts are inferred (by a regular expression each).
_VOTERS: Final = 32
_ZEROS: Final = str.maketrans("123456789", "000000000")

_MON = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_DATES: Final = (  # (regex, layouts with {s} for the separator group)
    (r"\d{4}(?P<s0>[-/.])\d\d(?P=s0)\d\d", ("%Y{s}%m{s}%d",)),
    (r"\d{8}", ("%Y%m%d",)),
    (r"\d{6}", ("%y%m%d",)),
    (r"\d\d(?P<s3>[-/.])\d\d(?P=s3)\d{4}", ("%d{s}%m{s}%Y", "%m{s}%d{s}%Y")),
    (r"\d\d(?P<s4>[-/.])\d\d(?P=s4)\d\d", ("%y{s}%m{s}%d", "%d{s}%m{s}%y", "%m{s}%d{s}%y")),
    (r"\d\d(?P<s5>[-/.])\d\d", ("%m{s}%d", "%d{s}%m")),
    (rf"\d\d(?P<s6>[-/ ]){_MON}(?P=s6)\d{{4}}", ("%d{s}%b{s}%Y",)),
    (rf"{_MON} \d\d", ("%b %d", "%b %e", "%b %-d")),
    (rf"{_MON}  \d", ("%b %e",)),
    (rf"{_MON} \d", ("%b %-d",)),
)
_INFER: Final = re.compile(
    r"(?P<pre>[\[(<\"']?)(?:(?P<wd>Mon|Tue|Wed|Thu|Fri|Sat|Sun)(?P<wds>,? ))?"
    + "(?:" + "|".join(f"(?P<d{i}>{rx})" for i, (rx, _) in enumerate(_DATES)) + ")?"
    + r"(?P<dsep>T| |-|:|_|, )??"
    + r"(?:(?P<time>\d\d(?P<ts>[:.])\d\d(?:(?P=ts)\d\d)?|\d{6})(?:(?P<fs>[.,:])(?P<frac>\d{1,9}))?)?"
    + r"(?P<zone>Z| ?[+-]\d\d:?\d\d| UTC| GMT)?(?P<year> \d{4})?(?P<post>[\])>\"']?)"
)


@lru_cache(maxsize=1024)
def infer_layouts(s: str) -> tuple[str, ...]:
    """Layout strings that may describe ``s`` (the round trip decides which really do).

    Only where digits are matters, so callers pass ``s`` with every digit made a 0: values of
    one layout then share a cache entry.
    """
    mt = _INFER.fullmatch(s)
    if mt is None or not (mt["time"] or any(mt[f"d{i}"] for i in range(len(_DATES)))):
        return ()
    g = mt.groupdict(default="")
    dates = [""]
    for i, (_, lays) in enumerate(_DATES):
        if g[f"d{i}"]:
            sep = next((g[k] for k in (f"s{i}",) if k in g), "")
            dates = [lay.replace("{s}", sep) for lay in lays]
    if g["dsep"] and not (g["time"] and dates != [""]):
        return ()
    time = ""
    if g["time"]:
        t = g["ts"]
        time = f"%H{t}%M{t}%S" if len(g["time"]) > 5 or not t else f"%H{t}%M"
    k = len(g["frac"])  # as many digits, or unpadded (milliseconds written as an integer)
    fracs = [f"{g['fs']}%{k}f", f"{g['fs']}%-{3 if k <= 3 else 6 if k <= 6 else 9}f"] if k else [""]
    z = g["zone"]
    zone = z if z in ("Z", " UTC", " GMT") else (" " if z.startswith(" ") else "") + (
        "%Z" if ":" in z else "%z") if z else ""
    year = " %Y" if g["year"] else ""
    wd = f"%a{g['wds']}" if g["wd"] else ""
    return tuple(f"{g['pre']}{wd}{d}{g['dsep']}{time}{f}{zone}{year}{g['post']}"
                 for d in dates for f in fracs if "%-" not in d or "%-" not in f)


@register
class StrTime(TypedString):
    codec_id = TIME
    name = "str-time"
    min_len, max_len = 5, MAX_LAYOUT
    call_rows = 256

    def parse(self, values: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, Any] | None:
        sample = strided(np.arange(len(values)))
        votes: Counter[str] = Counter()
        for s in values[sample[:_VOTERS]].tolist():
            votes.update(infer_layouts(s.translate(_ZEROS)))
        best: tuple[int, str, tuple] | None = None
        for fmt, _ in votes.most_common(_TRY):
            parsed = parse_values(compile_layout(fmt), values[sample], lens[sample])
            good = int(parsed[0].sum())
            if best is None or good > best[0]:
                best = (good, fmt, parsed)
                if good == len(sample):  # no later layout can beat it (a tie keeps this one)
                    break
        if best is None or best[0] == 0 or best[0] < self.min_typed * len(sample):
            return None
        lay = compile_layout(best[1])
        # a sample of every value (short columns) was parsed whole already
        ok, ticks, tz = best[2] if len(sample) == len(values) else parse_values(lay, values, lens)
        return ok, (lay.fmt, ticks[ok], tz[ok] if lay.tz else None)

    def write(self, w: Writer, state: Any, ok: np.ndarray, depth: int) -> None:
        fmt, ticks, tz = state
        w.u8(len(fmt))
        w.raw(fmt.encode("ascii"))
        w.blob(encode_int_sub(ticks, depth))
        if tz is not None:
            w.blob(encode_int_sub(tz, depth))

    def prepare(self, r: Reader, n: int, depth: int) -> tuple[Layout, np.ndarray, np.ndarray]:
        raw = bytes(r.raw(r.u8()))
        try:
            lay = compile_layout(raw.decode("ascii"))
        except ValueError as e:
            raise CorruptChunkError(str(e)) from None
        if lay.width > MAX_LAYOUT:  # bounds what count values expand to
            raise CorruptChunkError(f"timestamp layout {raw!r} wider than {MAX_LAYOUT}")
        ticks = decode_int_sub(r, n, depth)
        tz = decode_int_sub(r, n, depth) if lay.tz else np.zeros(n, dtype=np.int64)
        if out_of_range(lay, ticks, tz):
            raise CorruptChunkError(f"timestamp out of the range of layout {raw!r}")
        return lay, ticks, tz

    def render(self, prepared: tuple[Layout, np.ndarray, np.ndarray],
               rows: np.ndarray | None) -> list[str]:
        lay, ticks, tz = prepared
        if rows is not None:
            if len(rows) == 1:  # a point read: plain Python beats numpy's fixed cost
                return [render_one(lay, int(ticks[rows[0]]), int(tz[rows[0]]))]
            ticks, tz = ticks[rows], tz[rows]
        return render_values(lay, ticks, tz)
