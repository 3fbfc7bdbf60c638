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
 128   str-time     timestamps of one fixed-width layout per chunk: see typed_time.py
 129   str-decimal  sub: the values (int).  Canonical: ``str(int(s)) == s``, at most 18
                    digits (no '+', no leading zeros, no "-0").
 130   str-hex      u8 flags (bit 0: upper case), u8 width w (1..255), w template bytes
                    (0 = a hex digit, else that literal byte), blob: the digits as nibbles
                    packed two a byte, ceil(h / 2) bytes a value for h hex digits, stored
                    as byte planes (all first bytes, then all second bytes...).  Covers
                    fixed-width hex ids, UUIDs (8-4-4-4-12), MAC addresses, ``0x...``.
 131   str-ipv4     sub: the addresses as uint32 (int).  Canonical: dotted quad, no
                    leading zeros.
 132   str-ipv6     blob: 16 bytes a value as byte planes.  Canonical: RFC 5952, i.e.
                    ``ipaddress.IPv6Address(s).compressed == s``; see typed_net.py
=====  ===========  ====================================================================

Parsing is vectorised: candidate values (ASCII, of a plausible length) are laid out as a
NUL-padded ``uint8`` matrix and every field is computed with numpy; decoding builds the same
matrix from the typed values and turns it into strings with one ASCII ``decode``.  IPv6 parsing
is the exception: it calls ``socket.inet_pton`` per value (then renders vectorised).
"""
from __future__ import annotations

from itertools import accumulate
from typing import Any, ClassVar, Final

import numpy as np

from archive.codec.framing import Reader, Writer
from archive.codec.registry import Encoding, Kind, register
from archive.codec.strings import (
    CONST, DICT, PLAIN, STR_MAX_NEST, decode_int, decode_sub, encode_int, encode_sub, lengths,
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
_EXCEPTIONS: Final = (PLAIN, DICT, CONST)


# --------------------------------------------------------------------------- matrix helpers


def ascii_matrix(items: list[str], width: int, lens: np.ndarray) -> np.ndarray:
    """ASCII strings of length <= width as an (n, width) uint8 matrix, NUL-padded on the right."""
    n = len(items)
    if n and int(lens.min()) == width == int(lens.max()):
        return np.frombuffer("".join(items).encode("ascii"), dtype=np.uint8).reshape(n, width)
    return np.array(items, dtype=f"S{width}").view(np.uint8).reshape(n, width)


def rows_to_strings(m: np.ndarray, lens: np.ndarray | None = None) -> list[str]:
    """The rows of an ASCII matrix as strings: whole rows, or the first ``lens[i]`` bytes."""
    n, w = m.shape
    if lens is None:
        if w == 0:
            return [""] * n
        text = m.tobytes().decode("ascii")
        return [text[i : i + w] for i in range(0, n * w, w)]
    text = m[np.arange(w) < lens[:, None]].tobytes().decode("ascii")
    ends = list(accumulate(lens.tolist()))
    return list(map(text.__getitem__, map(slice, [0, *ends[:-1]], ends)))


def digits(m: np.ndarray, start: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The number written by columns start..start+width of each row, and whether all are digits."""
    d = m[:, start : start + width].astype(np.int64) - 48
    ok = ((d >= 0) & (d <= 9)).all(axis=1)
    v = np.zeros(len(m), dtype=np.int64)
    for j in range(width):
        v = v * 10 + d[:, j]
    return v, ok


def put_digits(m: np.ndarray, start: int, width: int, v: np.ndarray) -> None:
    """Write non-negative ``v`` (< 10**width) zero-padded into columns start..start+width."""
    for j in range(width - 1, -1, -1):
        m[:, start + j] = v % 10 + 48
        v = v // 10


def put_number(m: np.ndarray, pos: np.ndarray, v: np.ndarray, nd: np.ndarray,
               base: int = 10, table: bytes = b"0123456789abcdef") -> np.ndarray:
    """Write each ``v`` with ``nd`` digits at column ``pos`` of its row; returns the new pos."""
    rows = np.arange(len(m))
    lut = np.frombuffer(table, dtype=np.uint8)
    top = int(nd.max()) if len(nd) else 0
    for j in range(top):
        act = j < nd
        place = np.maximum(nd - 1 - j, 0)
        m[rows[act], (pos + j)[act]] = lut[((v // base**place) % base)[act]]
    return pos + nd


def to_planes(rows: np.ndarray) -> bytes:
    """An (n, k) uint8 matrix stored column after column (byte planes compress better)."""
    return np.ascontiguousarray(rows.T).tobytes()


def from_planes(buf: memoryview | bytes, n: int, k: int) -> np.ndarray:
    if len(buf) != n * k:
        raise CorruptChunkError(f"{len(buf)} bytes for {n} values of {k} bytes")
    return np.frombuffer(buf, dtype=np.uint8).reshape(k, n).T


# --------------------------------------------------------------------------- the framework


class TypedString(Encoding):
    """Base of the typed encodings: exceptions handling around ``parse``/``write``/``read``.

    ``parse(items, lens)`` gets the candidate values (ASCII, ``min_len <= len <= max_len``)
    and returns ``(ok, state)``: which of them are typed, and whatever ``write`` needs to store
    those (``None`` when the layout inference already shows the encoding does not pay).
    ``write(w, state, ok, depth)`` appends the typed part for the ok values, ``read(r, n,
    depth)`` returns them as a list of ``n`` strings.
    """

    kinds = frozenset({"str"})
    min_len: ClassVar[int] = 1
    max_len: ClassVar[int] = 64

    def parse(self, items: list[str], lens: np.ndarray) -> tuple[np.ndarray, Any] | None:
        raise NotImplementedError

    def write(self, w: Writer, state: Any, ok: np.ndarray, depth: int) -> None:
        raise NotImplementedError

    def read(self, r: Reader, n: int, depth: int) -> list[str]:
        raise NotImplementedError

    def encode(self, values: np.ndarray, kind: Kind, depth: int) -> bytes | None:
        n = len(values)
        if depth >= STR_MAX_NEST or n == 0:
            return None
        items = values.tolist()
        lens = lengths(items)
        cand = (lens >= self.min_len) & (lens <= self.max_len)
        cand &= np.fromiter(map(str.isascii, items), dtype=bool, count=n)
        idx = np.flatnonzero(cand)
        if len(idx) < MIN_TYPED * n:
            return None
        parsed = self.parse(values[idx].tolist(), lens[idx])
        if parsed is None:
            return None
        ok, state = parsed
        if int(ok.sum()) < MIN_TYPED * n:
            return None
        typed = np.zeros(n, dtype=bool)
        typed[idx[ok]] = True
        exc = np.flatnonzero(~typed)
        w = Writer()
        w.u32(len(exc))
        if len(exc):
            w.blob(encode_int(exc, depth))
            w.blob(encode_sub("str", values[exc], depth, only=_EXCEPTIONS))
        self.write(w, state, ok, depth)
        return w.getvalue()

    def decode(self, r: Reader, count: int, kind: Kind, depth: int) -> np.ndarray:
        e = r.u32()
        if e > count:
            raise CorruptChunkError(f"{e} exceptions in {count} values")
        if e == 0:
            return objects(self.read(r, count, depth), count)
        pos = decode_int(r, e, depth)
        if int(pos[0]) < 0 or int(pos[-1]) >= count or (e > 1 and int(np.diff(pos).min()) <= 0):
            raise CorruptChunkError("exception positions not increasing within the column")
        exc = decode_sub(r, "str", e, depth)
        typed = self.read(r, count - e, depth)
        if len(typed) != count - e:
            raise CorruptChunkError(f"{len(typed)} typed values, expected {count - e}")
        out = np.empty(count, dtype=object)
        mask = np.ones(count, dtype=bool)
        mask[pos] = False
        out[pos] = exc
        out[mask] = objects(typed, count - e)
        return out


def strided(idx: np.ndarray, k: int = LAYOUT_SAMPLE) -> np.ndarray:
    """At most about ``k`` entries of ``idx``, spread over the whole column."""
    return idx[:: max(1, len(idx) // k)]


# --------------------------------------------------------------------------- decimal


@register
class StrDecimal(TypedString):
    codec_id = DECIMAL
    name = "str-decimal"
    min_len, max_len = 1, 19

    def parse(self, items: list[str], lens: np.ndarray) -> tuple[np.ndarray, Any]:
        m = ascii_matrix(items, 19, lens).astype(np.int64)
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
        w.blob(encode_int(state[ok], depth))

    def read(self, r: Reader, n: int, depth: int) -> list[str]:
        return list(map(str, decode_int(r, n, depth).tolist()))


# --------------------------------------------------------------------------- hex


_HEXVAL: Final = np.full(256, 255, dtype=np.uint8)
_HEXVAL[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10)
_LOWER: Final = _HEXVAL.copy()
_LOWER[np.frombuffer(b"abcdef", np.uint8)] = np.arange(10, 16)
_UPPER: Final = _HEXVAL.copy()
_UPPER[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16)
_ANYCASE: Final = np.minimum(_LOWER, _UPPER)
_HEXDIGITS: Final = (np.frombuffer(b"0123456789abcdef", np.uint8),
                     np.frombuffer(b"0123456789ABCDEF", np.uint8))


@register
class StrHex(TypedString):
    codec_id = HEX
    name = "str-hex"
    min_len, max_len = 4, 128

    def parse(self, items: list[str], lens: np.ndarray) -> tuple[np.ndarray, Any] | None:
        width = int(np.bincount(lens).argmax())  # the modal length: the template's width
        group = np.flatnonzero(lens == width)
        sample = ascii_matrix([items[i] for i in strided(group)], width, lens[strided(group)])
        is_hex = _ANYCASE[sample] != 255
        ph = is_hex.mean(axis=0) >= 0.5
        nph = int(ph.sum())
        if nph < 4 or 2 * nph < width:
            return None
        lit = np.array([np.bincount(sample[:, j], minlength=256).argmax() for j in range(width)],
                       dtype=np.uint8)
        if (lit[~ph] == 0).any():
            return None
        letters = sample[:, ph]
        upper = int((_UPPER[letters] >= 10).sum()) > int((_LOWER[letters] >= 10).sum())
        table = _UPPER if upper else _LOWER
        m = ascii_matrix([items[i] for i in group], width, lens[group])
        nib = table[m[:, ph]]
        gok = (m[:, ~ph] == lit[~ph]).all(axis=1) & (nib != 255).all(axis=1)
        ok = np.zeros(len(items), dtype=bool)
        ok[group[gok]] = True
        template = np.where(ph, 0, lit).astype(np.uint8)
        return ok, (upper, template, nib[gok])

    def write(self, w: Writer, state: Any, ok: np.ndarray, depth: int) -> None:
        upper, template, nib = state
        w.u8(int(upper))
        w.u8(len(template))
        w.raw(template.tobytes())
        if nib.shape[1] % 2:
            nib = np.concatenate([nib, np.zeros((len(nib), 1), np.uint8)], axis=1)
        w.blob(to_planes((nib[:, 0::2] << 4) | nib[:, 1::2]))

    def read(self, r: Reader, n: int, depth: int) -> list[str]:
        flags = r.u8()
        width = r.u8()
        if flags > 1 or width == 0:
            raise CorruptChunkError(f"hex flags {flags} / width {width}")
        template = np.frombuffer(r.raw(width), dtype=np.uint8)
        ph = template == 0
        nph = int(ph.sum())
        packed = from_planes(r.blob(), n, (nph + 1) // 2)
        nib = np.empty((n, 2 * packed.shape[1]), dtype=np.uint8)
        nib[:, 0::2] = packed >> 4
        nib[:, 1::2] = packed & 15
        m = np.empty((n, width), dtype=np.uint8)
        m[:, ~ph] = template[~ph]
        m[:, ph] = _HEXDIGITS[flags][nib[:, :nph]]
        return rows_to_strings(m)


# Registers the timestamp and network encodings (they build on this module).
from archive.codec import typed_net, typed_time  # noqa: E402, F401
