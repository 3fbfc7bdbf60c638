"""IP address typed strings: str-ipv4 (131) and str-ipv6 (132); layouts in typed_strings.py.

IPv4 parsing is fully vectorised on the ASCII matrix (dots located by counting, each octet
read from its up-to-three digits).  IPv6 parsing calls ``socket.inet_pton`` per value
(about 0.3 us each; the grammar with ``::`` and embedded IPv4 is not worth vectorising) and
keeps a value only when the vectorised RFC 5952 rendering of the 16 bytes equals it, which is
exactly ``ipaddress.IPv6Address(s).compressed == s``.  The rendering is this module's own, so
decoding does not depend on the platform's ``inet_ntop``.
"""
from __future__ import annotations

import socket
from typing import Any, Final

import numpy as np

from archive.codec.framing import Reader, Writer
from archive.codec.ints import decode_int_sub, encode_int_sub
from archive.codec.registry import register
from archive.codec.typed_strings import (
    IPV4,
    IPV6,
    TypedString,
    ascii_matrix,
    from_planes,
    rows_to_strings,
    to_planes,
)
from archive.errors import CorruptChunkError

_DOT: Final = 46
_COLON: Final = 58


_CLASS: Final = np.full(256, 64, dtype=np.uint16)  # one row sum counts all three kinds:
_CLASS[48:58] = 0  # digits count nothing,
_CLASS[_DOT] = 1  # dots count in bits 0-3,
_CLASS[0] = 16  # NUL padding in bits 4-5, anything else from bit 6


def parse_ipv4(m: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ok, uint32 value as int64) for each row of a NUL-padded (n, 15) ASCII matrix."""
    n, width = m.shape
    tally = _CLASS[m].sum(axis=1, dtype=np.uint16)
    ok = (tally & 15 == 3) & (tally >> 4 == width - lens)  # 3 dots, no NUL inside, no other
    value = np.zeros(n, dtype=np.int64)
    rows = np.flatnonzero(ok)
    if len(rows) == 0:
        return ok, value
    flat = m[rows].ravel()
    dots = np.flatnonzero(flat == _DOT).reshape(-1, 3)  # in order: each row's 3 dots
    base = np.arange(len(rows))[:, None] * width
    starts = np.concatenate([base, dots + 1], axis=1)
    ends = np.concatenate([dots, base + lens[rows][:, None]], axis=1)
    flat = np.append(flat, np.full(2, 48, np.uint8))  # two spare bytes past the end
    ln = ends - starts  # (rows, 4) octet lengths
    c0, c1, c2 = (flat[starts + k].astype(np.int32) - 48 for k in range(3))
    v = np.where(ln == 1, c0, np.where(ln == 2, c0 * 10 + c1, c0 * 100 + c1 * 10 + c2))
    good = ((ln >= 1) & (ln <= 3) & ((ln == 1) | (c0 != 0)) & (v <= 255)).all(axis=1)
    ok[rows] = good
    value[rows] = np.where(good, (v << np.array([24, 16, 8, 0])).sum(axis=1), 0)
    return ok, value


#: Each octet's text and a dot, right-aligned with NUL fillers, as one 4-byte word.
_OCTETS: Final = np.frombuffer(b"".join(b"%3d." % i for i in range(256)).replace(b" ", b"\0"),
                               dtype=np.uint32)


def render_ipv4(v: np.ndarray) -> list[str]:
    """Dotted quads of these values (each in 0..2**32-1)."""
    n = len(v)
    octets = v.astype(">u4").view(np.uint8).reshape(n, 4)  # most significant first
    m = _OCTETS.take(octets).view(np.uint8).reshape(n, 16)
    m[:, 15] = 0  # no dot after the last octet
    return rows_to_strings(m)


@register
class StrIPv4(TypedString):
    codec_id = IPV4
    name = "str-ipv4"
    min_len, max_len = 7, 15

    def parse(self, values: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, Any]:
        return parse_ipv4(ascii_matrix(values.tolist(), 15, lens), lens)

    def write(self, w: Writer, state: Any, ok: np.ndarray, depth: int) -> None:
        w.blob(encode_int_sub(state[ok], depth))

    def prepare(self, r: Reader, n: int, depth: int) -> np.ndarray:
        v = decode_int_sub(r, n, depth)
        if n and (int(v.min()) < 0 or int(v.max()) > 0xFFFFFFFF):
            raise CorruptChunkError("IPv4 value outside 0..2**32-1")
        return v

    def render(self, prepared: np.ndarray, rows: np.ndarray | None) -> list[str]:
        return render_ipv4(prepared if rows is None else prepared[rows])


_HEXCHARS: Final = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def render_ipv6(b: np.ndarray) -> list[str]:
    """RFC 5952 text of each row of an (n, 16) uint8 matrix (as ``ipaddress`` renders it).

    Every group is laid out as 4 hex digits and a colon; leading zeros, and the groups and
    colons inside the ``::`` run, become NUL fillers that ``rows_to_strings`` drops.
    """
    n = len(b)
    g = (b[:, 0::2].astype(np.int64) << 8) | b[:, 1::2]
    m = np.empty((n, 8, 5), dtype=np.uint8)
    m[:, :, :4] = _HEXCHARS[(g[:, :, None] >> np.array([12, 8, 4, 0])) & 15]
    nd = 1 + (g >= 0x10) + (g >= 0x100) + (g >= 0x1000)
    m[:, :, :4][np.arange(4) < 4 - nd[:, :, None]] = 0
    m[:, :, 4] = _COLON
    m[:, 7, 4] = 0
    run = np.zeros((n, 9), dtype=np.int64)  # run[:, j]: zero groups starting at group j
    for j in range(7, -1, -1):
        run[:, j] = np.where(g[:, j] == 0, run[:, j + 1] + 1, 0)
    best = run[:, :8].argmax(axis=1)  # the leftmost longest run
    blen = run[np.arange(n), best] * (run[:, :8].max(axis=1) >= 2)  # 0: nothing to compress
    group = np.arange(8)
    in_run = (group >= best[:, None]) & (group < (best + blen)[:, None])
    m[:, :, :4][in_run] = 0
    m[:, :, 4][in_run & (group < (best + blen - 1)[:, None])] = 0  # colons between run groups
    m[(blen > 0) & (best == 0), 0, 3] = _COLON  # "::" at the start
    m[(blen > 0) & (best + blen == 8), 7, 0] = _COLON  # "::" at the end
    return rows_to_strings(m.reshape(n, 40))


def _pton(s: str) -> bytes | None:
    try:
        return socket.inet_pton(socket.AF_INET6, s)
    except (OSError, ValueError):
        return None


@register
class StrIPv6(TypedString):
    codec_id = IPV6
    name = "str-ipv6"
    min_len, max_len = 2, 39
    call_rows = 128

    def parse(self, values: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, Any]:
        packed = list(map(_pton, values.tolist()))
        got = np.fromiter((p is not None for p in packed), dtype=bool, count=len(values))
        b = np.frombuffer(b"".join(p for p in packed if p is not None), dtype=np.uint8)
        b = b.reshape(-1, 16)
        ok = got.copy()
        idx = np.flatnonzero(got)
        if len(idx):
            text = np.fromiter(render_ipv6(b), dtype=object, count=len(idx))
            ok[idx] = text == values[idx]
        return ok, (b, got)

    def write(self, w: Writer, state: Any, ok: np.ndarray, depth: int) -> None:
        b, got = state
        w.blob(to_planes(b[ok[got]]))

    def prepare(self, r: Reader, n: int, depth: int) -> np.ndarray:
        return from_planes(r.blob(), n, 16)

    def render(self, prepared: np.ndarray, rows: np.ndarray | None) -> list[str]:
        return render_ipv6(prepared if rows is None else prepared[rows])
