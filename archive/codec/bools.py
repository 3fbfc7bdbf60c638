"""Boolean encodings (kind ``bool``: numpy ``bool``), codec ids 48..55.

=====  ===========  ====================================================================
 id    name         body (little-endian)
=====  ===========  ====================================================================
 48    bool-packed  ``ceil(count / 8)`` bytes, 8 values a byte, first value in bit 0
                    (the fallback: declines only long constant columns, left to bool-rle)
 49    bool-rle     u8 first value (0/1), u32 runs, u32 length + a nested int payload of
                    the run lengths (each >= 1, summing to ``count``); runs alternate
=====  ===========  ====================================================================
"""
from __future__ import annotations

from typing import Final

import numpy as np

from archive.codec.framing import Reader, Writer
from archive.codec.int_checks import check_run_lengths, check_runs, is_constant, run_starts
from archive.codec.ints import encode_int_sub
from archive.codec.registry import MAX_DEPTH, Encoding, Kind, decode_values, register
from archive.errors import CorruptChunkError

PACKED: Final = 48
RLE: Final = 49

#: bool-rle applies when count >= RLE_RATIO * runs (otherwise packing is smaller).
RLE_RATIO: Final = 4
#: False, True, False, ...: the run values of a decoded bool-rle column, sliced (read-only).
_ALTERNATING: Final = np.arange(4097) % 2 == 1
_ALTERNATING.flags.writeable = False


@register
class BoolPacked(Encoding):
    codec_id = PACKED
    name = "bool-packed"
    kinds = frozenset({"bool"})

    def encode(self, values: np.ndarray, kind: Kind, depth: int) -> bytes | None:
        if is_constant(values):
            return None  # bool-rle: a few bytes whatever the count
        return np.packbits(values, bitorder="little").tobytes()

    def decode(self, r: Reader, count: int, kind: Kind, depth: int) -> np.ndarray:
        packed = np.frombuffer(r.raw((count + 7) // 8), dtype=np.uint8)
        return np.unpackbits(packed, count=count, bitorder="little").view(np.bool_)


@register
class BoolRunLength(Encoding):
    codec_id = RLE
    name = "bool-rle"
    kinds = frozenset({"bool"})
    replays = True  # one sub-column (the run lengths), made whenever there are values

    def encode(self, values: np.ndarray, kind: Kind, depth: int) -> bytes | None:
        if depth + 1 > MAX_DEPTH:
            return None
        n = len(values)
        starts = run_starts(values)
        runs = len(starts)
        if runs > 1 and RLE_RATIO * runs > n:
            return None
        w = Writer()
        w.u8(int(values[0]) if n else 0)
        w.u32(runs)
        if runs:
            w.blob(encode_int_sub(np.diff(np.append(starts, n)).astype(np.int64), depth))
        return w.getvalue()

    def decode(self, r: Reader, count: int, kind: Kind, depth: int) -> np.ndarray:
        first = r.u8()
        if first > 1:
            raise CorruptChunkError(f"bool-rle first value {first}")
        runs = r.u32()
        check_runs(runs, count)
        if runs == 0:
            return np.zeros(0, dtype=np.bool_)
        lengths = decode_values("int", r.blob(), runs, depth + 1)
        check_run_lengths(lengths, count)
        if runs < len(_ALTERNATING):  # runs alternate, starting with the first value
            vals = _ALTERNATING[first : first + runs]
        else:
            vals = (np.arange(runs) & 1).astype(np.bool_) ^ bool(first)
        return vals.repeat(lengths)
