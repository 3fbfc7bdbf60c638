"""IP address typed strings: str-ipv4 (131) and str-ipv6 (132); layouts in typed_strings.py.

IPv4 parsing is fully vectorised on the ASCII matrix (dots located with ``np.nonzero``, each
octet read from its up-to-three digits).  IPv6 parsing calls ``socket.inet_pton`` per value
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
from archive.codec.registry import register
from archive.codec.strings import decode_int, encode_int
from archive.codec.typed_strings import (
    IPV4, IPV6, TypedString, ascii_matrix, from_planes, put_number, rows_to_strings, to_planes,
)
from archive.errors import CorruptChunkError

_DOT: Final = 46
_COLON: Final = 58


def parse_ipv4(m: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ok, uint32 value as int64) for each row of a NUL-padded (n, 15) ASCII matrix."""
    n, width = m.shape
    inside = np.arange(width) < lens[:, None]
    isdot = m == _DOT
    ok = (isdot.sum(axis=1) == 3) & (((m >= 48) & (m <= 57)) | isdot | ~inside).all(axis=1)
    value = np.zeros(n, dtype=np.int64)
    rows = np.flatnonzero(ok)
    if len(rows) == 0:
        return ok, value
    sub = m[rows].astype(np.int64) - 48
    dots = np.nonzero(isdot[rows])[1].reshape(-1, 3)  # row-major: each row's 3 dots, in order
    starts = np.concatenate([np.zeros((len(rows), 1), np.int64), dots + 1], axis=1)
    ends = np.concatenate([dots, lens[rows][:, None]], axis=1)
    good = np.ones(len(rows), dtype=bool)
    acc = np.zeros(len(rows), dtype=np.int64)
    r = np.arange(len(rows))
    for k in range(4):
        s, ln = starts[:, k], ends[:, k] - starts[:, k]
        c0 = sub[r, np.minimum(s, width - 1)]
        c1 = sub[r, np.minimum(s + 1, width - 1)]
        c2 = sub[r, np.minimum(s + 2, width - 1)]
        v = np.where(ln == 1, c0, np.where(ln == 2, c0 * 10 + c1, c0 * 100 + c1 * 10 + c2))
        good &= (ln >= 1) & (ln <= 3) & ~((ln > 1) & (c0 == 0)) & (v <= 255)
        acc = (acc << 8) | np.where(good, v, 0)
    ok[rows] = good
    value[rows] = acc
    return ok, value


def render_ipv4(v: np.ndarray) -> list[str]:
    n = len(v)
    if n and (int(v.min()) < 0 or int(v.max()) > 0xFFFFFFFF):
        raise CorruptChunkError("IPv4 value outside 0..2**32-1")
    m = np.zeros((n, 15), dtype=np.uint8)
    pos = np.zeros(n, dtype=np.int64)
    rows = np.arange(n)
    for k in range(4):
        if k:
            m[rows, pos] = _DOT
            pos = pos + 1
        o = (v >> (24 - 8 * k)) & 255
        pos = put_number(m, pos, o, 1 + (o >= 10) + (o >= 100))
    return rows_to_strings(m, pos)


@register
class StrIPv4(TypedString):
    codec_id = IPV4
    name = "str-ipv4"
    min_len, max_len = 7, 15

    def parse(self, items: list[str], lens: np.ndarray) -> tuple[np.ndarray, Any]:
        return parse_ipv4(ascii_matrix(items, 15, lens), lens)

    def write(self, w: Writer, state: Any, ok: np.ndarray, depth: int) -> None:
        w.blob(encode_int(state[ok], depth))

    def read(self, r: Reader, n: int, depth: int) -> list[str]:
        return render_ipv4(decode_int(r, n, depth))


def render_ipv6(b: np.ndarray) -> list[str]:
    """RFC 5952 text of each row of an (n, 16) uint8 matrix (as ``ipaddress`` renders it)."""
    n = len(b)
    g = (b[:, 0::2].astype(np.int64) << 8) | b[:, 1::2]
    run = np.zeros((n, 9), dtype=np.int64)  # run[:, j]: zero groups starting at group j
    for j in range(7, -1, -1):
        run[:, j] = np.where(g[:, j] == 0, run[:, j + 1] + 1, 0)
    rows = np.arange(n)
    best = run[:, :8].argmax(axis=1)  # the leftmost longest run
    blen = run[rows, best]
    comp = blen >= 2
    nd = 1 + (g >= 0x10) + (g >= 0x100) + (g >= 0x1000)
    m = np.zeros((n, 39), dtype=np.uint8)
    pos = np.zeros(n, dtype=np.int64)
    for j in range(8):
        start = comp & (best == j)
        m[rows[start], pos[start]] = _COLON
        m[rows[start], pos[start] + 1] = _COLON
        pos = pos + 2 * start
        emit = ~(comp & (j >= best) & (j < best + blen))
        sep = emit & (j > 0) & ~(comp & (j == best + blen))
        m[rows[sep], pos[sep]] = _COLON
        pos = pos + sep
        pos = put_number(m, pos, np.where(emit, g[:, j], 0), np.where(emit, nd[:, j], 0), base=16)
    return rows_to_strings(m, pos)


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

    def parse(self, items: list[str], lens: np.ndarray) -> tuple[np.ndarray, Any]:
        packed = list(map(_pton, items))
        got = np.fromiter((p is not None for p in packed), dtype=bool, count=len(items))
        b = np.frombuffer(b"".join(p for p in packed if p is not None), dtype=np.uint8)
        b = b.reshape(-1, 16)
        ok = got.copy()
        idx = np.flatnonzero(got)
        if len(idx):
            text = np.fromiter(render_ipv6(b), dtype=object, count=len(idx))
            ok[idx] = text == np.asarray(items, dtype=object)[idx]
        return ok, (b, got)

    def write(self, w: Writer, state: Any, ok: np.ndarray, depth: int) -> None:
        b, got = state
        w.blob(to_planes(b[ok[got]]))

    def read(self, r: Reader, n: int, depth: int) -> list[str]:
        return render_ipv6(from_planes(r.blob(), n, 16))
