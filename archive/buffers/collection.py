"""``BufferWithSegmentsCollection``: many buffers (typically one per mapped file) seen as one
flat sequence of segments, indexed by binary search over cumulative segment counts."""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence
from itertools import accumulate, chain
from typing import Any

from archive.buffers.buffer import BufferSegment, BufferWithSegments
from archive.buffers.segments import checked_index


class BufferWithSegmentsCollection(Sequence[BufferSegment]):
    """A virtual, read-only sequence over the segments of one or more buffers, in order.

    ``BufferWithSegmentsCollection(*buffers)``: ``ValueError`` with no buffer or a buffer
    without segments, ``TypeError`` for anything not a :class:`BufferWithSegments`.  Nothing
    is copied and no per-segment object is created up front.

    ``len()`` is the total segment count; ``c[i]`` the :class:`BufferSegment` at global
    index ``i`` (negative from the end, ``IndexError`` outside, ``TypeError`` for
    non-integers including slices), found by binary search, so lookups cost O(log members);
    iteration walks members in order; ``.size`` is the sum of segment lengths (not of the
    backing buffers); ``.buffers`` the members; :meth:`locate` maps a global index to
    ``(member_index, local_index)``.
    """

    __slots__ = ("_buffers", "_starts", "_count", "_size")

    def __init__(self, *buffers: BufferWithSegments) -> None:
        if not buffers:
            raise ValueError("a BufferWithSegmentsCollection needs at least one buffer")
        counts = []
        for k, buffer in enumerate(buffers):
            if not isinstance(buffer, BufferWithSegments):
                raise TypeError(f"member {k} is {type(buffer).__name__}, not BufferWithSegments")
            if not len(buffer):
                raise ValueError(f"member {k} has no segments")
            counts.append(len(buffer))
        self._buffers = buffers
        #: ``_starts[m]`` is the global index of member ``m``'s first segment.
        self._starts = list(accumulate(counts[:-1], initial=0))
        self._count = self._starts[-1] + counts[-1]
        self._size = sum(int(b.segments.lengths.sum()) for b in buffers)

    @property
    def buffers(self) -> tuple[BufferWithSegments, ...]:
        """The member buffers, in order."""
        return self._buffers

    @property
    def size(self) -> int:
        """Total bytes of all segments (gaps between segments excluded)."""
        return self._size

    def locate(self, i: int) -> tuple[int, int]:
        """``(member_index, local_index)`` of global index ``i`` (same rules as ``c[i]``)."""
        i = checked_index(i, self._count)
        m = bisect_right(self._starts, i) - 1
        return m, i - self._starts[m]

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, i: Any) -> BufferSegment:  # type: ignore[override]
        if type(i) is not int or not 0 <= i < self._count:
            i = checked_index(i, self._count)
        starts = self._starts
        m = bisect_right(starts, i) - 1
        return self._buffers[m]._segment(i - starts[m])

    def __iter__(self) -> Iterator[BufferSegment]:
        return chain.from_iterable(self._buffers)

    def __repr__(self) -> str:
        return (f"BufferWithSegmentsCollection(buffers={len(self._buffers)}, "
                f"segments={self._count}, size={self._size})")
