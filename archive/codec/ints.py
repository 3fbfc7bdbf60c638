"""Integer encodings (kind ``int``: numpy ``int64``), codec ids 1..31.

=====  ===========  ====================================================================
 id    name         body (little-endian; ``sub`` = u32 length + a nested int payload)
=====  ===========  ====================================================================
 1     int-plain    ``count`` x i64 (always applies: the fallback)
 2     int-narrow   u8 dtype code (0 i8, 1 u8, 2 i16, 3 u16, 4 i32, 5 u32), ``count`` items
 3     int-for      i64 reference (the minimum), u8 width w (0..64), then the offsets
                    ``v - min`` packed at w bits: ``w // 8`` byte planes of ``count``
                    bytes (least significant first) followed by ``w % 8`` bit planes of
                    ``ceil(count / 8)`` bytes (np.packbits, little bit order).  w = 0 is a
                    constant column: 10 bytes whatever ``count``.
 4     int-delta    (count >= 1) i64 first value, sub: the ``count - 1`` differences
 5     int-delta2   (count >= 1) i64 first value, (count >= 2) i64 first difference,
                    sub: the ``count - 2`` differences of differences
 6     int-rle      u32 runs, sub: run values, sub: run lengths (each >= 1, sum = count)
 7     int-dict     u32 k (distinct values), sub: the k sorted values, sub: ``count``
                    indices (each < k).  Empty when ``count`` is 0.
=====  ===========  ====================================================================

Differences are taken with wrap-around uint64 arithmetic and stored as the int64 they wrap to,
so any int64 column round-trips (decode mirrors it with a uint64 ``cumsum``).  They are not
zigzagged: frame-of-reference subtracts the minimum anyway and narrow widths are signed, so a
zigzag would only double the span of mostly-positive deltas (one more bit per value).

Sub-columns are chosen by :func:`~archive.codec.registry.encode_values` again, restricted per
role (no delta of deltas, no run-length of run values...; no int-plain where int-narrow fits),
and the recursive encodings (4..7) only apply at depths below :data:`MAX_NEST`, which bounds
the work of selection by sampling.
Decoders never trust a size they have not checked against ``count`` or the bytes left, and
the ones that can expand a few bytes into many values (a constant, runs, dictionary indices)
also refuse a ``count`` past the chunk limit.  Long constant columns are left to int-for at
width 0 (every other encoding declines them, see :data:`~archive.codec.int_checks.CONSTANT_MIN`).
"""
from __future__ import annotations

from typing import ClassVar, Final

import numpy as np

from archive.codec.bitpack import pack_bits, packed_size, unpack_bits
from archive.codec.framing import Reader, Writer
from archive.codec.int_checks import (
    below, check_count, check_run_lengths, check_runs, constant_once, dictionary_codes,
    run_starts, sub_bound, value_range,
)
from archive.codec.registry import (
    NEVER,
    TINY,
    Encoding,
    Kind,
    decode_values,
    encode_values,
    register,
    registered,
)
from archive.errors import CorruptChunkError

PLAIN: Final = 1
NARROW: Final = 2
FOR: Final = 3
DELTA: Final = 4
DELTA2: Final = 5
RLE: Final = 6
DICT: Final = 7

#: Encodings with no int sub-columns: what is left at depth MAX_NEST.
LEAF: Final = (PLAIN, NARROW, FOR)
#: Recursive int encodings apply only at depth < MAX_NEST (top level plus one nested level).
MAX_NEST: Final = 2

# Candidate sets of sub-columns, by role.
_RESIDUALS: Final = (PLAIN, NARROW, FOR, RLE, DICT)
_RUN_VALUES: Final = (PLAIN, NARROW, FOR, DELTA, DELTA2, DICT)
_RUN_LENGTHS: Final = (PLAIN, NARROW, FOR, RLE, DICT)
_DICT_VALUES: Final = (PLAIN, NARROW, FOR, DELTA, DELTA2)
_DICT_INDICES: Final = (PLAIN, NARROW, FOR, RLE)

_MASK64: Final = (1 << 64) - 1
_I8: Final = np.dtype("<i8")


# --------------------------------------------------------------------------- shared helpers


def encode_int_sub(values: np.ndarray, depth: int, only: tuple[int, ...] | None = None) -> bytes:
    """Payload of an int sub-column of an encoding at ``depth`` (it is encoded at depth + 1).

    Past :data:`MAX_NEST` only the leaf encodings are candidates.  Used by the float, bool,
    str and typed-string encodings too.
    """
    d = depth + 1
    if d >= MAX_NEST:
        only = leaves_of(only, LEAF, PLAIN)
    return encode_values("int", values, d, only=_without_plain(values, only))


def _without_plain(values: np.ndarray, only: tuple[int, ...] | None) -> tuple[int, ...] | None:
    """``only`` without int-plain when int-narrow, also a candidate, holds the values: plain
    then wins only the fast estimate, by a few bytes, and loses in the chunk's zstd level
    (measured on the bench sets: no size grew, zeek and loghub shrank 0.1-0.2%).  Columns
    scored by length (``TINY``) are left alone: narrow always wins those."""
    if len(values) <= TINY:
        return only
    cands = only if only is not None else tuple(e.codec_id for e in registered("int"))
    if PLAIN not in cands or NARROW not in cands \
            or narrow_code(int(values.min()), int(values.max())) is None:
        return only
    return tuple(c for c in cands if c != PLAIN)


def narrow_code(lo: int, hi: int) -> int | None:
    """int-narrow's dtype code for values in ``lo..hi`` (the narrowest), None when none fits."""
    for code, (a, b) in enumerate(_NARROW_RANGES):
        if a <= lo and hi <= b:
            return code
    return None


def leaves_of(only: tuple[int, ...] | None, leaf: tuple[int, ...], fallback: int) -> tuple[int, ...]:
    """The candidates a sub-column keeps past its kind's nesting limit: those of ``only``
    (every encoding when ``None``) that are in ``leaf``, or ``(fallback,)`` when none is."""
    return leaf if only is None else tuple(c for c in only if c in leaf) or (fallback,)


def _put_sub(w: Writer, values: np.ndarray, depth: int, only: tuple[int, ...] | None) -> None:
    w.blob(encode_int_sub(values, depth, only))


def decode_int_sub(r: Reader, count: int, depth: int) -> np.ndarray:
    """The int sub-column (a blob) of an encoding at ``depth``: exactly ``count`` values."""
    return decode_values("int", r.blob(), count, depth + 1)


def _u64(v: np.ndarray) -> np.ndarray:
    return v.view(np.uint64)


def _nests(values: np.ndarray, depth: int) -> bool:
    """Whether a recursive encoding (one with int sub-columns) applies: below
    :data:`MAX_NEST`, and not on a long constant column (left to int-for)."""
    return depth < MAX_NEST and not constant_once(values)


# --------------------------------------------------------------------------- leaf encodings


@register
class IntPlain(Encoding):
    codec_id = PLAIN
    name = "int-plain"
    kinds = frozenset({"int"})

    def encode(self, values: np.ndarray, kind: Kind, depth: int) -> bytes | None:
        if constant_once(values):
            return None  # int-for stores it in 10 bytes
        return values.astype(_I8, copy=False).tobytes()

    def bound(self, values: np.ndarray, kind: Kind, depth: int) -> int:
        return NEVER if constant_once(values) else 8 * len(values)  # exact

    def decode(self, r: Reader, count: int, kind: Kind, depth: int) -> np.ndarray:
        return np.frombuffer(r.raw(count * 8), dtype=_I8).astype(np.int64)


_NARROW_TYPES: Final = (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32)
_NARROW_DTYPES: Final = tuple(np.dtype(t).newbyteorder("<") for t in _NARROW_TYPES)
_NARROW_RANGES: Final = tuple((int(np.iinfo(t).min), int(np.iinfo(t).max)) for t in _NARROW_TYPES)


@register
class IntNarrow(Encoding):
    codec_id = NARROW
    name = "int-narrow"
    kinds = frozenset({"int"})

    def encode(self, values: np.ndarray, kind: Kind, depth: int) -> bytes | None:
        if len(values) == 0:
            return bytes((0,))
        if constant_once(values):
            return None
        code = narrow_code(*value_range(values))
        if code is None:
            return None
        return bytes((code,)) + values.astype(_NARROW_DTYPES[code]).tobytes()

    def bound(self, values: np.ndarray, kind: Kind, depth: int) -> int:
        """Exact: the dtype code and the values at the narrowest width."""
        if len(values) == 0:
            return 1
        code = None if constant_once(values) else narrow_code(*value_range(values))
        return NEVER if code is None else 1 + len(values) * _NARROW_DTYPES[code].itemsize

    def decode(self, r: Reader, count: int, kind: Kind, depth: int) -> np.ndarray:
        code = r.u8()
        if code >= len(_NARROW_DTYPES):
            raise CorruptChunkError(f"unknown narrow int dtype code {code}")
        dt = _NARROW_DTYPES[code]
        return np.frombuffer(r.raw(count * dt.itemsize), dtype=dt).astype(np.int64)


@register
class IntFrameOfReference(Encoding):
    codec_id = FOR
    name = "int-for"
    kinds = frozenset({"int"})

    def encode(self, values: np.ndarray, kind: Kind, depth: int) -> bytes:
        w = Writer()
        if len(values) == 0:
            w.i64(0)
            w.u8(0)
            return w.getvalue()
        lo, hi = value_range(values)
        width = (hi - lo).bit_length()
        w.i64(lo)
        w.u8(width)
        if width:
            w.raw(pack_bits(_u64(values) - np.uint64(lo & _MASK64), width))
        return w.getvalue()

    def bound(self, values: np.ndarray, kind: Kind, depth: int) -> int:
        """Exact: reference and width, then the packed offsets."""
        if len(values) == 0:
            return 9
        lo, hi = value_range(values)
        return 9 + packed_size(len(values), (hi - lo).bit_length())

    def decode(self, r: Reader, count: int, kind: Kind, depth: int) -> np.ndarray:
        lo = r.i64()
        width = r.u8()
        if width > 64:
            raise CorruptChunkError(f"bit width {width} > 64")
        if width == 0:
            check_count(count)
            out = np.empty(count, dtype=np.int64)
            out.fill(lo)
            return out
        u = unpack_bits(r.raw(packed_size(count, width)), count, width)
        u += np.uint64(lo & _MASK64)
        return u.view(np.int64)


# --------------------------------------------------------------------------- recursive encodings


@register
class IntDelta(Encoding):
    """int-delta (``order`` 1) and, subclassed, int-delta2 (``order`` 2): the first value of
    each of the ``order`` successive difference levels as i64, then a sub-column of the last
    level's differences.  Values running out before ``order`` heads are written end the body
    there (no sub-column)."""

    codec_id = DELTA
    name = "int-delta"
    kinds = frozenset({"int"})
    replays = True
    #: How many times the values are differenced.
    order: ClassVar[int] = 1

    def encode(self, values: np.ndarray, kind: Kind, depth: int) -> bytes | None:
        if not _nests(values, depth):
            return None
        w = Writer()
        level = _u64(values)
        for _ in range(self.order):
            if len(level) == 0:
                return w.getvalue()
            w.i64(int(level[:1].view(np.int64)[0]))
            level = np.diff(level)
        _put_sub(w, level.view(np.int64), depth, _RESIDUALS)
        return w.getvalue()

    def bound(self, values: np.ndarray, kind: Kind, depth: int) -> int:
        """The heads, and the residuals' sub-column at its smallest."""
        if not _nests(values, depth):
            return NEVER
        n, k = len(values), self.order
        return 8 * n if n < k else 8 * k + sub_bound(n - k)

    def decode(self, r: Reader, count: int, kind: Kind, depth: int) -> np.ndarray:
        """The heads, the sub-column (read before anything is allocated, its length checked
        against ``count``), then one wrap-around uint64 ``cumsum`` per level, innermost first."""
        order = self.order
        heads = [r.i64() for _ in range(min(count, order))]
        rest = decode_int_sub(r, count - order, depth) if count >= order else None
        out = np.empty(count, dtype=np.uint64)
        for i, head in enumerate(heads):
            out[i] = head & _MASK64
        if rest is not None:
            out[order:] = _u64(rest)
        for i in range(len(heads) - 1, -1, -1):
            np.cumsum(out[i:], out=out[i:])
        return out.view(np.int64)


@register
class IntDeltaOfDelta(IntDelta):
    codec_id = DELTA2
    name = "int-delta2"
    order = 2


@register
class IntRunLength(Encoding):
    codec_id = RLE
    name = "int-rle"
    kinds = frozenset({"int"})
    replays = True

    def encode(self, values: np.ndarray, kind: Kind, depth: int) -> bytes | None:
        if not _nests(values, depth):
            return None
        n = len(values)
        starts = run_starts(values)
        runs = len(starts)
        if 2 * runs > n + 1:
            return None  # mostly runs of one: never smaller than the values themselves
        w = Writer()
        w.u32(runs)
        if runs:
            lengths = np.diff(np.append(starts, n)).astype(np.int64)
            _put_sub(w, values[starts], depth, _RUN_VALUES)
            _put_sub(w, lengths, depth, _RUN_LENGTHS)
        return w.getvalue()

    def bound(self, values: np.ndarray, kind: Kind, depth: int) -> int:
        """The run count, and the two sub-columns (one value per run) at their smallest."""
        n = len(values)
        if not _nests(values, depth):
            return NEVER
        if n == 0:
            return 4
        runs = 1 + int(np.count_nonzero(values[1:] != values[:-1]))
        return NEVER if 2 * runs > n + 1 else 4 + 2 * sub_bound(runs)

    def decode(self, r: Reader, count: int, kind: Kind, depth: int) -> np.ndarray:
        runs = r.u32()
        check_runs(runs, count)
        if runs == 0:
            return np.zeros(0, dtype=np.int64)
        vals = decode_int_sub(r, runs, depth)
        lengths = decode_int_sub(r, runs, depth)
        check_run_lengths(lengths, count)
        return vals.repeat(lengths)


@register
class IntDictionary(Encoding):
    codec_id = DICT
    name = "int-dict"
    kinds = frozenset({"int"})
    replays = True

    def encode(self, values: np.ndarray, kind: Kind, depth: int) -> bytes | None:
        if not _nests(values, depth):
            return None
        w = Writer()
        if len(values) == 0:
            w.u32(0)
            return w.getvalue()
        found = dictionary_codes(values)
        if found is None:
            return None
        uniques, idx = found
        w.u32(len(uniques))
        _put_sub(w, uniques, depth, _DICT_VALUES)
        _put_sub(w, idx, depth, _DICT_INDICES)
        return w.getvalue()

    def bound(self, values: np.ndarray, kind: Kind, depth: int) -> int:
        """The entry count, at least one entry, and the indices at their smallest."""
        if not _nests(values, depth):
            return NEVER
        n = len(values)
        return 4 + sub_bound(1) + sub_bound(n) if n else 4

    def decode(self, r: Reader, count: int, kind: Kind, depth: int) -> np.ndarray:
        k = r.u32()
        check_runs(k, count)
        if k == 0:
            return np.zeros(0, dtype=np.int64)
        uniques = decode_int_sub(r, k, depth)
        idx = decode_int_sub(r, count, depth)
        if not below(idx, k):
            raise CorruptChunkError(f"dictionary index outside 0..{k - 1}")
        return uniques[idx]
