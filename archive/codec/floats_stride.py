"""Strided decimal floats with ULP residuals (kind ``float``), codec id 40.

Coordinates, sensor readings and prices are decimals with a few digits that went through some
arithmetic on their way into JSON: ``-65.613616999999977`` is ``-65.613617`` a few units in
the last place (ULPs) off.  float-decimal (36) needs the decimal to be exact bit for bit and
so declines them, and byte-level encodings (XOR, shuffle) see 64 noisy bits.  They also often
come interleaved: GeoJSON ``[x, y]`` pairs flatten into one column x, y, x, y, ... whose
neighbours are unrelated while every other value is close.

=====  ============  ====================================================================
 id    name          body (little-endian; ``sub`` = u32 length + a nested int payload)
=====  ============  ====================================================================
 40    float-stride  u8 stride s (1..4), u8 scale k (0..12), then s subs: stream j holds
                     ``m[j::s]`` (``ceil((count - j) / s)`` values), then one sub of
                     ``count`` residuals r.  Value i is the float64 whose bit pattern is
                     ``bits(float64(m[i]) / 10**k) + r[i]`` (uint64 wrap-around; for
                     k = 0 no division).
=====  ============  ====================================================================

The encoder sets ``m = round(v * 10**k)`` (0 where that is not finite or beyond 2**53: NaN,
infinities and huge values then carry their whole bit pattern as the residual) and
``r = bits(v) - bits(m / 10**k)``, so every float64 round-trips bit for bit (-0.0, NaN
payloads, denormals included) whatever s and k are; s and k only decide the size.  It picks
them on contiguous windows of the column by an entropy estimate,
``sum(log2(1 + |m[i] - m[i - s]|)) + sum(log2(1 + |r[i]|))``: the stream deltas the int
selection will store (it picks int-delta for smooth streams) plus the residual magnitudes.
Decoding is vectorised: each sub-column is decoded by the registry (bounded by ``count``), the
streams are interleaved into ``m``, and one float division and one integer addition rebuild
the values, so no payload can make it allocate beyond ``count`` values.
"""
from __future__ import annotations

from typing import Final

import numpy as np

from archive.codec.framing import Reader, Writer
from archive.codec.int_checks import is_constant
from archive.codec.ints import encode_int_sub
from archive.codec.registry import MAX_DEPTH, Encoding, Kind, decode_values, register
from archive.errors import CorruptChunkError

STRIDE: Final = 40
#: Strides tried (position mod s splits the column into s streams).
MAX_STRIDE: Final = 4
#: Decimal scales tried: m = round(v * 10**k) for k in 0..MAX_SCALE.
MAX_SCALE: Final = 12
_EXACT: Final = float(2**53)
_WINDOWS: Final = 4
_WINDOW_LEN: Final = 256


def _scaled(values: np.ndarray, k: int) -> np.ndarray:
    """``round(v * 10**k)`` as int64, 0 where that is not finite or beyond 2**53."""
    with np.errstate(all="ignore"):
        m = np.round(values * float(10**k))
    m[~(np.abs(m) <= _EXACT)] = 0.0  # NaN fails the comparison too
    return m.astype(np.int64)


def _base(m: np.ndarray, k: int) -> np.ndarray:
    """The float64 values ``m / 10**k`` exactly as the decoder computes them."""
    base = m.astype(np.float64)
    if k:
        base /= float(10**k)
    return base


def _residuals(values: np.ndarray, m: np.ndarray, k: int) -> np.ndarray:
    """``bits(v) - bits(m / 10**k)`` with uint64 wrap-around, as int64."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    return (bits - _base(m, k).view(np.uint64)).view(np.int64)


def _magnitude_bits(x: np.ndarray) -> np.ndarray:
    """``sum(log2(1 + |x|))`` over the last axis, on the zigzag form (no overflow at int64 min)."""
    zz = (x.view(np.uint64) << np.uint64(1)) ^ (x >> 63).view(np.uint64)
    return np.log2(zz.astype(np.float64) + 1.0).sum(axis=-1)


def _windows(values: np.ndarray) -> np.ndarray:
    """Shape (w, length): up to :data:`_WINDOWS` contiguous slices spread over the column
    (strides need the order kept, so no strided sample)."""
    n = len(values)
    if n <= _WINDOWS * _WINDOW_LEN:
        return values.reshape(1, n)
    starts = np.linspace(0, n - _WINDOW_LEN, _WINDOWS).astype(np.int64)
    return np.stack([values[s : s + _WINDOW_LEN] for s in starts.tolist()])


_SCALES: Final = 10.0 ** np.arange(MAX_SCALE + 1).reshape(-1, 1, 1)


def choose(values: np.ndarray) -> tuple[int, int]:
    """The (stride, scale) with the smallest entropy estimate on windows of ``values``.

    Every scale at once: ``m`` is (scales, windows, length); the estimate per (s, k) is the
    residual bits plus the bits of the lag-s differences of ``m`` (wrap-around).
    """
    wins = _windows(np.ascontiguousarray(values, dtype=np.float64))
    with np.errstate(all="ignore"):
        m = np.round(wins * _SCALES)
    m[~(np.abs(m) <= _EXACT)] = 0.0
    mi = m.astype(np.int64)
    base = mi.astype(np.float64) / _SCALES  # x / 1.0 == x: k = 0 needs no special case
    res = (wins.view(np.uint64) - base.view(np.uint64)).view(np.int64)
    res_bits = _magnitude_bits(res).sum(axis=-1)  # per scale
    mu = mi.view(np.uint64)
    costs = np.full((MAX_STRIDE, MAX_SCALE + 1), np.inf)
    for s in range(1, min(MAX_STRIDE, max(1, wins.shape[1] - 1)) + 1):
        d = (mu[..., s:] - mu[..., :-s]).view(np.int64)
        costs[s - 1] = res_bits + _magnitude_bits(d).sum(axis=-1)
    best_s, best_k = np.unravel_index(int(np.argmin(costs)), costs.shape)
    return int(best_s) + 1, int(best_k)


def encode_with(values: np.ndarray, s: int, k: int, depth: int) -> bytes:
    """The float-stride body for stride ``s`` and scale ``k`` (any values round-trip)."""
    if not (1 <= s <= MAX_STRIDE and 0 <= k <= MAX_SCALE):
        raise ValueError(f"stride {s} / scale {k} outside 1..{MAX_STRIDE} / 0..{MAX_SCALE}")
    m = _scaled(values, k)
    w = Writer()
    w.u8(s)
    w.u8(k)
    for j in range(s):
        w.blob(encode_int_sub(m[j::s], depth))
    w.blob(encode_int_sub(_residuals(values, m, k), depth))
    return w.getvalue()


@register
class FloatStride(Encoding):
    codec_id = STRIDE
    name = "float-stride"
    kinds = frozenset({"float"})

    def encode(self, values: np.ndarray, kind: Kind, depth: int) -> bytes | None:
        if depth + 1 > MAX_DEPTH:
            return None
        if is_constant(np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)):
            return None  # float-bits stores those in 11 bytes
        return encode_with(values, *choose(values), depth)

    def decode(self, r: Reader, count: int, kind: Kind, depth: int) -> np.ndarray:
        s = r.u8()
        k = r.u8()
        if not 1 <= s <= MAX_STRIDE:
            raise CorruptChunkError(f"float-stride: stride {s} outside 1..{MAX_STRIDE}")
        if k > MAX_SCALE:
            raise CorruptChunkError(f"float-stride: scale {k} outside 0..{MAX_SCALE}")
        streams = [decode_values("int", r.blob(), len(range(j, count, s)), depth + 1)
                   for j in range(s)]
        res = decode_values("int", r.blob(), count, depth + 1)
        m = np.empty(count, dtype=np.int64)  # only once every sub-column decoded to its count
        for j, stream in enumerate(streams):
            m[j::s] = stream
        out = _base(m, k).view(np.uint64)
        out += res.view(np.uint64)
        return out.view(np.float64)
