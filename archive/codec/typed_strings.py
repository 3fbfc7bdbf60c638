"""Typed strings (kind ``str``), codec ids 128..159: strings that are really typed values.

Real logs are full of timestamps, decimal numbers, hex ids and IP addresses kept as text.  A
typed encoding parses every value; a value is stored typed only when the encoding's canonical
rendering of what it parsed is *byte-exactly* the original string, every other value goes to an
exception list.  The encoding does not apply (returns ``None``, so selection skips it) when
fewer than :data:`MIN_TYPED` of the values are typed.

Every typed body starts the same way::

    u32 e                     number of exceptions (0..count)
    (e > 0) sub: e positions  int, strictly increasing, each < count
    (e > 0) sub: e strings    str (plain / dict / const only)
    ...                       the count - e typed values, in order (encoding-specific)

=====  ===========  ====================================================================
 id    name         typed part
=====  ===========  ====================================================================
 128   str-time     timestamps, one layout per chunk: see typed_time.py, time_layout.py
 129   str-decimal  sub: the values (int).  Canonical: ``str(int(s)) == s``, at most 18
                    digits (no '+', no leading zeros, no "-0").
 130   str-hex      u8 flags (bit 0: upper case), u8 width w (1..128), w template bytes
                    (0 = a hex digit, else that printable ASCII literal), blob: the nibbles
                    packed two a byte, ceil(h / 2) bytes a value for h hex digits, stored
                    as byte planes (all first bytes, then all second bytes...).  Covers
                    fixed-width hex ids, UUIDs (8-4-4-4-12), MAC addresses, ``0x...``;
                    see typed_hex.py
 131   str-ipv4     sub: the addresses as uint32 (int).  Canonical: dotted quad, no
                    leading zeros.
 132   str-ipv6     blob: 16 bytes a value as byte planes.  Canonical: RFC 5952, i.e.
                    ``ipaddress.IPv6Address(s).compressed == s``; see typed_net.py
=====  ===========  ====================================================================

Parsing is vectorised: candidate values (ASCII, of a plausible length) are laid out as a
NUL-padded ``uint8`` matrix and every field is computed with numpy; decoding builds the same
kind of matrix from the typed values, with NUL fillers where a variable-width value is shorter
(unpadded numbers, IPv6 ``::``), and turns it into strings with one ASCII ``decode`` and one
``split``.  IPv6 parsing is the exception: ``socket.inet_pton`` per value, measured at about
0.3 us a value (rendering, which decides what is canonical, is vectorised).
"""
from __future__ import annotations

from functools import partial
from operator import methodcaller
from typing import Any, ClassVar, Final, cast

import numpy as np

from archive.codec.framing import Reader, Writer
from archive.codec.ints import decode_int_sub, encode_int_sub
from archive.codec.lazy import Column, TypedColumn
from archive.codec.plans import given_encoding, unplanned
from archive.codec.registry import Encoding, Kind, register, shared
from archive.codec.strings import (
    CONST,
    DICT,
    PLAIN,
    STR_MAX_NEST,
    decode_sub_lazy,
    encode_sub,
    lengths,
    objects,
)
from archive.errors import CorruptChunkError

TIME: Final = 128
DECIMAL: Final = 129
HEX: Final = 130
IPV4: Final = 131
IPV6: Final = 132

#: A typed encoding applies when at least this fraction of the values is typed.
MIN_TYPED: Final = 0.5
#: Sample size used to infer a per-chunk layout (hex template, timestamp format).
LAYOUT_SAMPLE: Final = 256
#: Values parsed first, on long columns, to reject an encoding that cannot apply.
_PROBE: Final = 64
_EXCEPTIONS: Final = (PLAIN, DICT, CONST)


# --------------------------------------------------------------------------- matrix helpers


def ascii_matrix(items: list[str], width: int, lens: np.ndarray) -> np.ndarray:
    """ASCII strings of length <= width as an (n, width) uint8 matrix, NUL-padded on the right."""
    n = len(items)
    if n and int(lens.min()) == width == int(lens.max()):
        return np.frombuffer("".join(items).encode("ascii"), dtype=np.uint8).reshape(n, width)
    return np.array(items, dtype=f"S{width}").view(np.uint8).reshape(n, width)


def rows_to_strings(m: np.ndarray) -> list[str]:
    """The rows of a printable-ASCII matrix as strings; NUL bytes are fillers and are dropped.

    Rows are joined with a newline (never in the matrix) and cut with ``str.split``, much
    faster than slicing each value out.
    """
    n, w = m.shape
    full = np.empty((n, w + 1), dtype=np.uint8)
    full[:, :w] = m
    full[:, w] = 10
    raw = full.tobytes()
    if b"\0" in raw:
        raw = raw.translate(None, b"\0")  # drop the fillers (measured 4x faster than a mask)
    return raw.decode("ascii").split("\n")[:-1]


def number(m: np.ndarray, start: int, width: int) -> np.ndarray:
    """The decimal number in columns start..start+width of each row.  Not checked: any byte
    counts as its value minus 48, so callers must verify by rendering back."""
    v = m[:, start].astype(np.int64)
    for j in range(start + 1, start + width):
        v = v * 10 + m[:, j]
    return v - 48 * _REPUNIT[width]


_REPUNIT: Final = [0, 1, 11, 111, 1111, 11111, 111111, 1111111, 11111111, 111111111]


def same_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Which rows of two equal-shape uint8 matrices are identical."""
    n, w = a.shape
    if w == 0:
        return np.ones(n, dtype=bool)
    return np.frombuffer(a.tobytes(), dtype=f"V{w}") == np.frombuffer(b.tobytes(), dtype=f"V{w}")


def put_digits(m: np.ndarray, start: int, width: int, v: np.ndarray) -> None:
    """Write the last ``width`` digits of each ``v`` (int64), i.e. ``v % 10**width``
    zero-padded, into columns start..start+width.  A ``uint32`` ``v`` must already be below
    ``10**width`` (``width <= 9``): it is written as is."""
    if len(v) < 64:  # a few values (a lazy column's rows): one 2-d step beats a step a digit
        m[:, start : start + width] = v[:, None] // _POW10[width - 1 :: -1] % 10 + 48
        return
    if width <= 9:  # unsigned 32-bit steps, and no modulo: measured 2.4x faster
        u = v if v.dtype == np.uint32 else (v % _POW10[width]).astype(np.uint32)
        for j in range(start + width - 1, start - 1, -1):
            q = u // 10
            m[:, j] = u - q * 10 + 48
            u = q
        return
    for j in range(start + width - 1, start - 1, -1):
        m[:, j] = v % 10 + 48
        v = v // 10


_POW10: Final = 10 ** np.arange(19, dtype=np.int64)


def to_planes(rows: np.ndarray) -> bytes:
    """An (n, k) uint8 matrix stored column after column (byte planes compress better)."""
    return np.ascontiguousarray(rows.T).tobytes()


def from_planes(buf: memoryview | bytes, n: int, k: int) -> np.ndarray:
    """The (n, k) matrix of :func:`to_planes`, C-contiguous (a copy: rows gather fast)."""
    if len(buf) != n * k:
        raise CorruptChunkError(f"{len(buf)} bytes for {n} values of {k} bytes")
    return np.ascontiguousarray(np.frombuffer(buf, dtype=np.uint8).reshape(k, n).T)


# --------------------------------------------------------------------------- the framework


class TypedString(Encoding):
    """Base of the typed encodings: exceptions handling around ``parse``/``write``/``read``.

    ``parse(values, lens)`` gets the candidate values (an object array of ASCII strings,
    ``min_len <= len <= max_len``) and returns ``(ok, state)``: which of them are typed, and
    whatever ``write`` needs to store those (or ``None`` when it already sees the encoding
    cannot apply).
    ``write(w, state, ok, depth)`` appends the typed part for the ok values.  ``prepare(r, n,
    depth)`` reads the typed part of ``n`` values and makes every check of it (a value the
    renderer could not render is corrupt here already); ``render(prepared, rows)`` returns the
    strings of the typed values at ``rows`` (an int64 array, any order; all when ``None``).
    Decoding is lazy (:class:`~archive.codec.lazy.TypedColumn`): only rows read are rendered.
    """

    kinds = frozenset({"str"})
    replays = True  # the typed part's sub-columns (the exceptions' are unplanned)
    min_len: ClassVar[int] = 1
    max_len: ClassVar[int] = 64
    #: What rendering a few rows costs beyond the rows, in rows of a full render (measured).
    call_rows: ClassVar[int] = 64
    #: Fraction of typed values below which the encoding does not apply (tests lower it).
    min_typed: ClassVar[float] = MIN_TYPED
    #: Whether a body without exceptions settles the column (:meth:`settles`).
    settling: ClassVar[bool] = True

    def settles(self, body: bytes) -> bool:
        """Yes when every value is typed (no exceptions): each is then one number (a time,
        an address, an integer) stored in int sub-columns that selection fits to the column,
        where a log template would split it at the same punctuation into several such columns
        plus a template id per value (measured: never smaller on the bench sets).  Not for
        str-hex, whose nibble planes do not get the int encodings a template's hex columns
        do (a counter's deltas)."""
        return self.settling and body[:4] == b"\0\0\0\0"

    def feasible(self, values: np.ndarray, lens: np.ndarray, need: float) -> bool:
        """False only when fewer than ``need`` of the candidate values (as ``parse`` gets
        them) could be typed, by a necessary condition much cheaper than ``parse``: the
        encoding then declines at once, as it would after parsing."""
        return True

    def parse(self, values: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, Any] | None:
        raise NotImplementedError

    def write(self, w: Writer, state: Any, ok: np.ndarray, depth: int) -> None:
        raise NotImplementedError

    def prepare(self, r: Reader, n: int, depth: int) -> Any:
        raise NotImplementedError

    def render(self, prepared: Any, rows: np.ndarray | None) -> list[str]:
        raise NotImplementedError

    def encode(self, values: np.ndarray, kind: Kind, depth: int) -> bytes | None:
        n = len(values)
        if depth >= STR_MAX_NEST or n == 0:
            return None
        lens, ascii = shared(values, "str-lengths-ascii", _lengths_ascii)
        cand = (lens >= self.min_len) & (lens <= self.max_len)
        if ascii is not None:
            cand &= ascii
        idx = np.flatnonzero(cand)
        need = self.min_typed * n
        if len(idx) == 0 or len(idx) < need:
            return None
        sub, sub_lens = (values, lens) if len(idx) == n else (values[idx], lens[idx])
        if not self.feasible(sub, sub_lens, need):
            return None
        if len(idx) > 4 * _PROBE and not given_encoding():
            # a cheap look at a few values first: most columns fail here
            p = strided(np.arange(len(idx)), _PROBE)
            probe = self.parse(sub[p], sub_lens[p])
            if probe is None or float(probe[0].mean()) * len(idx) < 0.75 * need:
                return None
        parsed = self.parse(sub, sub_lens)
        if parsed is None:
            return None
        ok, state = parsed
        if int(ok.sum()) < self.min_typed * n:
            return None
        typed = np.zeros(n, dtype=bool)
        typed[idx[ok]] = True
        exc = np.flatnonzero(~typed)
        w = Writer()
        w.u32(len(exc))
        if len(exc):
            with unplanned():  # made or not depending on the values: kept out of plans
                w.blob(encode_int_sub(exc, depth))
                w.blob(encode_sub("str", values[exc], depth, only=_EXCEPTIONS))
        self.write(w, state, ok, depth)
        return w.getvalue()

    def decode(self, r: Reader, count: int, kind: Kind, depth: int) -> np.ndarray:
        return self.decode_lazy(r, count, kind, depth).materialize()

    def decode_lazy(self, r: Reader, count: int, kind: Kind, depth: int) -> TypedColumn:
        e = r.u32()
        if e > count:
            raise CorruptChunkError(f"{e} exceptions in {count} values")
        pos, exc = np.zeros(0, dtype=np.int64), cast(Column, objects([], 0))
        if e:
            pos = decode_int_sub(r, e, depth)
            if int(pos[0]) < 0 or int(pos[-1]) >= count or (e > 1 and int(np.diff(pos).min()) <= 0):
                raise CorruptChunkError("exception positions not increasing within the column")
            exc = decode_sub_lazy(r, "str", e, depth)
        prepared = self.prepare(r, count - e, depth)
        return TypedColumn(count, pos, exc, partial(self.render, prepared), self.call_rows)


def _lengths_ascii(values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The values' lengths, and which are ASCII (``None``: all of them)."""
    items = values.tolist()
    if "".join(items).isascii():  # one C pass, then per value only when needed
        return lengths(items), None
    return lengths(items), np.fromiter(map(str.isascii, items), dtype=bool, count=len(items))


def strided(idx: np.ndarray, k: int = LAYOUT_SAMPLE) -> np.ndarray:
    """At most about ``k`` entries of ``idx``, spread over the whole column."""
    return idx[:: max(1, len(idx) // k)]


# --------------------------------------------------------------------------- decimal


@register
class StrDecimal(TypedString):
    codec_id = DECIMAL
    name = "str-decimal"
    min_len, max_len = 1, 19
    call_rows = 16

    def feasible(self, values: np.ndarray, lens: np.ndarray, need: float) -> bool:
        """Typed values are digits after an optional ``-``."""
        return sum(map(str.isdigit, map(methodcaller("lstrip", "-"), values.tolist()))) >= need

    def parse(self, values: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, Any]:
        m = ascii_matrix(values.tolist(), 19, lens).astype(np.int64)
        neg = m[:, 0] == 45  # '-'
        nd = lens - neg
        d = m - 48
        cols = np.arange(19)
        digpos = (cols < lens[:, None]) & ~((cols == 0) & neg[:, None])
        ok = (((d >= 0) & (d <= 9)) | ~digpos).all(axis=1) & (nd >= 1) & (nd <= 18)
        lead = d[np.arange(len(m)), neg.astype(np.intp)]
        ok &= ~((lead == 0) & ((nd > 1) | neg))  # "0" only: no "01", no "-0"
        v = np.zeros(len(m), dtype=np.int64)
        for j in range(19):
            v = np.where(digpos[:, j], v * 10 + d[:, j], v)
        return ok, np.where(neg, -v, v)

    def write(self, w: Writer, state: Any, ok: np.ndarray, depth: int) -> None:
        w.blob(encode_int_sub(state[ok], depth))

    def prepare(self, r: Reader, n: int, depth: int) -> np.ndarray:
        return decode_int_sub(r, n, depth)

    def render(self, prepared: np.ndarray, rows: np.ndarray | None) -> list[str]:
        return list(map(str, (prepared if rows is None else prepared[rows]).tolist()))


# Registers the hex, network and timestamp encodings (they build on this module), in this order.
from archive.codec import typed_hex, typed_net, typed_time  # noqa: F401
