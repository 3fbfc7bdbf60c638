"""Float encodings (kind ``float``: numpy ``float64``), codec ids 32..47.

=====  ==============  =================================================================
 id    name            body (little-endian)
=====  ==============  =================================================================
 32    float-plain     ``count`` x f64 (always applies: the fallback)
 33    float-xor       the uint64 bit patterns XORed with the previous one (the first
                       as is), byte-transposed: 8 planes of ``count`` bytes, least
                       significant byte first.  Slowly varying series leave whole planes
                       of zeros for zstd.
 34    float-shuffle   the bit patterns byte-transposed as above, no XOR
 35    float-integral  a nested int payload of the values as integers (every value finite,
                       integral, not -0.0 and ``|v| <= 2**53``)
 36    float-decimal   u8 k (1..9), a nested int payload m with ``v == m / 10**k`` bit for
                       bit (decimals with few digits: 0.25, 1331901000.123456)
 37    float-bits      a nested int payload of the bit patterns viewed as int64 (constant
                       or few distinct values, runs, NaN payloads: int selection decides)
=====  ==============  =================================================================

Long constant columns (bit for bit) are left to float-bits, which stores them in 11 bytes;
the others decline them.  Every encoding is bit-exact: -0.0, infinities and every NaN payload round-trip (the
value-converting ones, 35 and 36, verify the exact decode path before they apply).
"""
from __future__ import annotations

from typing import Final

import numpy as np

from archive.codec.framing import Reader
from archive.codec.int_checks import is_constant
from archive.codec.ints import encode_int_sub
from archive.codec.registry import MAX_DEPTH, Encoding, Kind, decode_values, register
from archive.errors import CorruptChunkError

PLAIN: Final = 32
XOR: Final = 33
SHUFFLE: Final = 34
INTEGRAL: Final = 35
DECIMAL: Final = 36
BITS: Final = 37

#: Largest decimal scale tried by float-decimal.
MAX_SCALE: Final = 9
_EXACT: Final = float(2**53)
_F8: Final = np.dtype("<f8")
_U8_LE: Final = np.dtype("<u8")


def _bits(values: np.ndarray) -> np.ndarray:
    """The values' IEEE bit patterns as native uint64 (a view when possible)."""
    return np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)


def _constant(values: np.ndarray) -> bool:
    """Long constant columns (bit for bit) are left to float-bits (11 bytes whatever count)."""
    return is_constant(_bits(values))


def _planes(u: np.ndarray) -> bytes:
    n = len(u)
    b = np.ascontiguousarray(u, dtype=_U8_LE).view(np.uint8).reshape(n, 8)
    return np.ascontiguousarray(b.T).tobytes()


def _unplanes(buf: bytes | memoryview, count: int) -> np.ndarray:
    a = np.frombuffer(buf, dtype=np.uint8).reshape(8, count)
    return np.ascontiguousarray(a.T).view(_U8_LE).reshape(count).astype(np.uint64, copy=False)


def _nested_ok(depth: int) -> bool:
    return depth + 1 <= MAX_DEPTH


def _decode_nested(r: Reader, count: int, depth: int) -> np.ndarray:
    return decode_values("int", r.raw(r.remaining), count, depth + 1)


@register
class FloatPlain(Encoding):
    codec_id = PLAIN
    name = "float-plain"
    kinds = frozenset({"float"})

    def encode(self, values: np.ndarray, kind: Kind, depth: int) -> bytes | None:
        if _constant(values):
            return None
        return values.astype(_F8, copy=False).tobytes()

    def decode(self, r: Reader, count: int, kind: Kind, depth: int) -> np.ndarray:
        return np.frombuffer(r.raw(count * 8), dtype=_F8).astype(np.float64)


@register
class FloatXor(Encoding):
    codec_id = XOR
    name = "float-xor"
    kinds = frozenset({"float"})

    def encode(self, values: np.ndarray, kind: Kind, depth: int) -> bytes | None:
        if _constant(values):
            return None
        u = _bits(values)
        x = u.copy()
        np.bitwise_xor(x[1:], u[:-1], out=x[1:])
        return _planes(x)

    def decode(self, r: Reader, count: int, kind: Kind, depth: int) -> np.ndarray:
        x = _unplanes(r.raw(count * 8), count)
        return np.bitwise_xor.accumulate(x).view(np.float64)


@register
class FloatShuffle(Encoding):
    codec_id = SHUFFLE
    name = "float-shuffle"
    kinds = frozenset({"float"})

    def encode(self, values: np.ndarray, kind: Kind, depth: int) -> bytes | None:
        if _constant(values):
            return None
        return _planes(_bits(values))

    def decode(self, r: Reader, count: int, kind: Kind, depth: int) -> np.ndarray:
        return _unplanes(r.raw(count * 8), count).view(np.float64)


def _all_finite_within(values: np.ndarray) -> bool:
    if len(values) == 0:
        return True
    with np.errstate(invalid="ignore"):
        m = np.abs(values).max()  # NaN propagates and fails the comparison
    return bool(m <= _EXACT)


def _scaled(values: np.ndarray, k: int) -> np.ndarray | None:
    """Integers m with ``m / 10**k`` equal to ``values`` bit for bit, or None."""
    scale = float(10**k)
    m = np.round(values * scale)
    if len(m) and not np.abs(m).max() <= _EXACT:
        return None
    ints = m.astype(np.int64)
    back = ints.astype(np.float64)
    if k:
        back /= scale
    if not np.array_equal(back.view(np.uint64), _bits(values)):
        return None
    return ints


@register
class FloatIntegral(Encoding):
    codec_id = INTEGRAL
    name = "float-integral"
    kinds = frozenset({"float"})
    replays = True  # its one int sub-column

    def encode(self, values: np.ndarray, kind: Kind, depth: int) -> bytes | None:
        if not _nested_ok(depth) or _constant(values) or not _all_finite_within(values):
            return None
        ints = values.astype(np.int64)  # |v| <= 2**53: exact for integral values
        if not np.array_equal(ints.astype(np.float64).view(np.uint64), _bits(values)):
            return None  # a fraction, or -0.0
        return encode_int_sub(ints, depth)

    def decode(self, r: Reader, count: int, kind: Kind, depth: int) -> np.ndarray:
        return _decode_nested(r, count, depth).astype(np.float64)


@register
class FloatDecimal(Encoding):
    codec_id = DECIMAL
    name = "float-decimal"
    kinds = frozenset({"float"})
    replays = True  # its one int sub-column

    def encode(self, values: np.ndarray, kind: Kind, depth: int) -> bytes | None:
        n = len(values)
        if n == 0 or not _nested_ok(depth) or _constant(values) or not _all_finite_within(values):
            return None
        # The scale a strided sample needs is a lower bound for the whole column.
        sample = values[:: max(1, n // 256)]
        start = next((k for k in range(1, MAX_SCALE + 1) if _scaled(sample, k) is not None), None)
        if start is None:
            return None
        for k in range(start, MAX_SCALE + 1):
            ints = _scaled(values, k)
            if ints is not None:
                return bytes((k,)) + encode_int_sub(ints, depth)
        return None

    def decode(self, r: Reader, count: int, kind: Kind, depth: int) -> np.ndarray:
        k = r.u8()
        if not 1 <= k <= MAX_SCALE:
            raise CorruptChunkError(f"decimal scale {k} outside 1..{MAX_SCALE}")
        out = _decode_nested(r, count, depth).astype(np.float64)
        out /= float(10**k)
        return out


@register
class FloatBits(Encoding):
    codec_id = BITS
    name = "float-bits"
    kinds = frozenset({"float"})
    replays = True  # its one int sub-column

    def encode(self, values: np.ndarray, kind: Kind, depth: int) -> bytes | None:
        if not _nested_ok(depth):
            return None
        return encode_int_sub(_bits(values).view(np.int64), depth)

    def decode(self, r: Reader, count: int, kind: Kind, depth: int) -> np.ndarray:
        return _decode_nested(r, count, depth).view(np.float64)
