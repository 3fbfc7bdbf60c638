"""``BufferWithSegments`` (one backing buffer, many logical items) and its ``BufferSegment``s.

Both are ``uint8`` ndarray subclasses so they export the real buffer protocol (Python 3.11
has no ``__buffer__`` for Python classes): ``memoryview()``, ``bytes()``, ``np.frombuffer``,
``zstandard`` and file ``write()`` all read the backing memory itself, never a copy.

Lifetime: a segment references its parent, the parent references the data object it was
built on (bytes, bytearray, mmap...).  Memory is released, and a file mapping made by
:meth:`BufferWithSegments.from_file` unmapped, only when the last object referencing it
(buffer, segment, memoryview or numpy view taken from either) is gone; there is no
``close()``, so nothing can ever read unmapped memory.
"""
from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from archive.buffers._common import PlainResults, byte_array, bytes_view
from archive.buffers.segments import BufferSegments, check_within, checked_index


_DERIVED = "an array numpy derived from a BufferSegment has no offset or parent"


class BufferSegment(PlainResults, np.ndarray):
    """One item of a :class:`BufferWithSegments`: a 1-D ``uint8`` view of the parent's bytes.

    ``len()`` is the length in bytes, ``.offset`` the position in the parent, ``.parent``
    the parent (kept alive by the segment), ``.tobytes()``/``bytes()`` a copy,
    ``memoryview()`` the parent's memory itself (writable when the parent's data is).
    ``s[i]`` is an ``int`` byte, ``s[a:b]`` a plain ``uint8`` ndarray view, iteration yields
    ints; ``==`` compares bytes with any bytes-like object (a ``bool``, never an array);
    segments are unhashable, since their memory may change.  Segments only come from
    indexing a buffer or collection: the constructor raises ``TypeError``.  Arrays numpy
    derives from a segment (``copy()``, ``view()``...) keep the class but have no
    ``.offset``/``.parent`` (``AttributeError``).
    """

    __slots__ = ("_offset", "_parent")
    _offset: int
    _parent: BufferWithSegments

    def __new__(cls, *args: Any, **kwargs: Any) -> BufferSegment:
        raise TypeError("BufferSegment objects come from indexing a BufferWithSegments")

    @property
    def offset(self) -> int:
        """Byte offset of this segment within :attr:`parent`."""
        try:
            return self._offset
        except AttributeError:
            raise AttributeError(_DERIVED) from None

    @property
    def parent(self) -> BufferWithSegments:
        """The buffer this segment is a view of."""
        try:
            return self._parent
        except AttributeError:
            raise AttributeError(_DERIVED) from None

    def __len__(self) -> int:
        return self.nbytes

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            return self.view(np.ndarray)[key]
        return int(self.view(np.ndarray)[checked_index(key, self.nbytes)])

    def __iter__(self) -> Iterator[int]:  # type: ignore[override]
        return iter(bytes_view(self))  # type: ignore[arg-type]

    def __eq__(self, other: object) -> Any:
        theirs = bytes_view(other)
        return NotImplemented if theirs is None else bytes_view(self) == theirs

    def __ne__(self, other: object) -> Any:
        theirs = bytes_view(other)
        return NotImplemented if theirs is None else bytes_view(self) != theirs

    __hash__ = None  # type: ignore[assignment]

    def __bool__(self) -> bool:
        return self.nbytes > 0

    def __repr__(self) -> str:
        offset = getattr(self, "_offset", None)
        return f"BufferSegment(offset={offset}, length={self.nbytes})"

    __str__ = __repr__


class BufferWithSegments(PlainResults, np.ndarray):
    """A bytes-like buffer plus a table of segments, each a logical item, all sharing memory.

    ``BufferWithSegments(data, segments)``: ``data`` is any C-contiguous bytes-like object,
    referenced and never copied; ``segments`` anything :class:`BufferSegments` accepts.
    ``TypeError`` when an argument is missing or not bytes-like; ``ValueError`` when the
    table is not whole 16-byte pairs or a segment reaches outside ``data`` (overflowing
    ``offset + length`` included; checked vectorized, once, at construction).

    As a sequence: ``len()`` is the number of segments, ``b[i]`` a :class:`BufferSegment`
    (negative ``i`` from the end, ``IndexError`` outside, ``TypeError`` for non-integers),
    iteration yields segments, ``x in b`` compares ``x`` with each segment's bytes.
    As bytes: the buffer protocol, ``.size`` and ``.tobytes()`` cover the whole backing
    buffer (segments may leave gaps or overlap).  ``.segments`` is the table.  Two buffers
    are equal when their bytes and tables are; ufuncs return plain ndarrays.  Arrays numpy
    derives from a buffer (``copy()``, ``view()``, ``reshape()``...) keep the class but
    have no segments; pickling keeps both (as a copy of the bytes).
    """

    __slots__ = ("_segments", "_pairs", "_flat", "_count")

    def __new__(cls, data: object, segments: object) -> BufferWithSegments:
        flat = byte_array(data, "data")
        table = segments if isinstance(segments, BufferSegments) else BufferSegments(segments)
        check_within(table, flat.size)
        self = flat.view(cls)
        self._segments = table
        # A flat sequence of Python ints: offset, length, offset, length...  Indexing a
        # memoryview is the cheapest way to get ints out of the table on the hot path.
        self._pairs = memoryview(np.ascontiguousarray(table.array).reshape(-1))  # type: ignore[arg-type]
        self._flat = flat  # plain view: slicing it skips numpy subclass machinery
        self._count = len(table)
        return self

    def __array_finalize__(self, obj: Any) -> None:
        self._segments = _NO_SEGMENTS
        self._pairs = _NO_PAIRS
        self._flat = _NO_BYTES
        self._count = 0

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], segments: object) -> BufferWithSegments:
        """Map the file at ``path`` read-only and segment it.

        An empty file cannot be mapped: it becomes empty data, valid with an empty table or
        zero-length segments at offset 0 only.  The mapping is released when the last
        object referencing it goes away (see the module docstring); the file descriptor is
        closed before returning.  ``OSError`` when the file cannot be opened.
        """
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            size = os.fstat(fd).st_size
            data: object = mmap.mmap(fd, 0, access=mmap.ACCESS_READ) if size else b""
        finally:
            os.close(fd)
        return cls(data, segments)

    @property
    def segments(self) -> BufferSegments:
        """The segment table."""
        return self._segments

    def _segment(self, j: int) -> BufferSegment:
        """Segment ``j``, which the caller guarantees is in range."""
        pairs = self._pairs
        offset = pairs[2 * j]
        segment = self._flat[offset:offset + pairs[2 * j + 1]].view(BufferSegment)
        segment._offset = offset
        segment._parent = self
        return segment

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, key: Any) -> BufferSegment:  # type: ignore[override]
        if type(key) is not int or not 0 <= key < self._count:
            key = checked_index(key, self._count)
        return self._segment(key)

    def __iter__(self) -> Iterator[BufferSegment]:  # type: ignore[override]
        return map(self._segment, range(self._count))

    def __contains__(self, value: object) -> bool:
        return any(segment == value for segment in self)

    def __eq__(self, other: object) -> bool:  # type: ignore[override]
        if not isinstance(other, BufferWithSegments):
            return False
        return self._segments == other._segments and bytes_view(self) == bytes_view(other)

    def __ne__(self, other: object) -> bool:  # type: ignore[override]
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __bool__(self) -> bool:
        return self._count > 0

    def __reduce__(self) -> tuple[Any, ...]:
        return (BufferWithSegments, (self.tobytes(), self._segments.tobytes()))

    def __repr__(self) -> str:
        return f"BufferWithSegments(size={self.nbytes}, segments={self._count})"

    __str__ = __repr__


_NO_SEGMENTS = BufferSegments(b"")
_NO_PAIRS = memoryview(_NO_SEGMENTS.array.reshape(-1))  # type: ignore[arg-type]
_NO_BYTES = np.empty(0, dtype=np.uint8)
