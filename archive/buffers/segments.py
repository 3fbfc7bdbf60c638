"""``BufferSegments``: an immutable table of ``(offset, length)`` pairs.

Layout is python-zstandard's: native-endian unsigned 64-bit integers, an offset then a length,
16 bytes a pair, so ``bytes(table)`` or ``memoryview(table)`` can be handed to
``zstandard.BufferWithSegments`` as is.
"""
from __future__ import annotations

import operator
from collections.abc import Iterator

import numpy as np

from archive.buffers._common import PlainResults, byte_array

#: Bytes one ``(offset, length)`` pair occupies.
PAIR_SIZE = 16


def checked_index(key: object, count: int) -> int:
    """``key`` as an index into ``count`` items: negative counts from the end.

    ``TypeError`` when ``key`` is not an integer, ``IndexError`` when it falls outside.
    """
    given = operator.index(key)  # type: ignore[arg-type]
    i = given + count if given < 0 else given
    if not 0 <= i < count:
        raise IndexError(f"index {given} out of range for {count} segments")
    return i


def _pairs_array(table: object) -> np.ndarray:
    """A read-only, C-contiguous ``(n, 2)`` uint64 plain ndarray holding ``table``'s pairs."""
    if isinstance(table, BufferSegments):
        return np.ascontiguousarray(table.array)
    if isinstance(table, np.ndarray) and table.ndim == 2 and table.shape[1] == 2:
        if table.dtype.kind not in "iu":
            raise TypeError(f"a segment array must hold integers, not {table.dtype}")
        if table.dtype.kind == "i" and table.size and int(table.min()) < 0:
            raise ValueError("segment offsets and lengths must not be negative")
        pairs = table.astype(np.uint64)  # always a private copy
    else:
        raw = byte_array(table, "segments")
        if raw.size % PAIR_SIZE:
            raise ValueError(f"segments must be a multiple of {PAIR_SIZE} bytes, got {raw.size}")
        pairs = raw.view(np.uint64).reshape(-1, 2)
        if not isinstance(table, bytes):
            pairs = pairs.copy()  # the source could change after validation
    pairs.flags.writeable = False
    return pairs


class BufferSegments(PlainResults, np.ndarray):
    """An immutable ``(n, 2)`` native-uint64 ndarray of ``(offset, length)`` pairs.

    ``BufferSegments(table)`` accepts another ``BufferSegments`` (shared), an integer ndarray
    of shape ``(n, 2)`` (copied; negative values are ``ValueError``), or any bytes-like object
    of native uint64 pairs (``bytes`` is referenced, mutable sources are copied, so a table
    can never change after a buffer validated it).  ``TypeError`` for anything else,
    ``ValueError`` when the byte length is not a multiple of 16.

    Sequence view: ``len()`` is the number of pairs, ``t[i]`` an ``(offset, length)`` tuple
    of ints (negative ``i`` from the end, ``IndexError`` outside), ``t[a:b]`` a
    ``BufferSegments`` view, iteration yields tuples.  Buffer protocol: 16 bytes per pair.
    ``.array``, ``.offsets`` and ``.lengths`` are plain read-only numpy views (no copy).
    Equality compares the pairs of two tables; tables are unhashable like ndarrays.
    """

    __slots__ = ()

    def __new__(cls, table: object) -> BufferSegments:
        return _pairs_array(table).view(cls)

    @property
    def array(self) -> np.ndarray:
        """The pairs as a plain ``(n, 2)`` uint64 ndarray view."""
        return self.view(np.ndarray)

    @property
    def offsets(self) -> np.ndarray:
        """Column 0 (offsets) as a plain uint64 view."""
        return self.view(np.ndarray)[:, 0]

    @property
    def lengths(self) -> np.ndarray:
        """Column 1 (lengths) as a plain uint64 view."""
        return self.view(np.ndarray)[:, 1]

    def __getitem__(self, key: object) -> tuple[int, int] | BufferSegments:  # type: ignore[override]
        if isinstance(key, slice):
            return np.ndarray.__getitem__(self, key)  # type: ignore[return-value]
        i = checked_index(key, len(self))
        return (int(self.item(i, 0)), int(self.item(i, 1)))

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        return zip(self.offsets.tolist(), self.lengths.tolist(), strict=True)

    def __eq__(self, other: object) -> bool:  # type: ignore[override]
        return isinstance(other, BufferSegments) and np.array_equal(self.array, other.array)

    def __ne__(self, other: object) -> bool:  # type: ignore[override]
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __bool__(self) -> bool:
        return len(self) > 0

    def __repr__(self) -> str:
        shown = list(zip(self.offsets[:4].tolist(), self.lengths[:4].tolist(), strict=True))
        more = ", ..." if len(self) > 4 else ""
        return f"BufferSegments({len(self)} pairs: {str(shown)[1:-1]}{more})"

    __str__ = __repr__


def check_within(table: BufferSegments, size: int) -> None:
    """``ValueError`` unless every segment of ``table`` lies inside ``size`` bytes.

    Vectorized; ``offset + length`` wrapping past 2**64 counts as outside.
    """
    if not len(table):
        return
    offsets, lengths = table.offsets, table.lengths
    ends = offsets + lengths  # uint64 arithmetic wraps; a wrapped end is smaller than its offset
    bad = (ends < offsets) | (ends > np.uint64(size))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"segment {i} (offset {int(offsets[i])}, length {int(lengths[i])}) reaches outside "
            f"the {size}-byte buffer"
        )
