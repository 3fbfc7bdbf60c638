"""Zero-copy buffers with segments: one allocation, many logical items.

The four types of python-zstandard's "Buffer Types", implemented over numpy so one memory
allocation (usually a read-only mapped segment file) backs many logical objects without a
Python object or a copy per item:

* :class:`BufferSegments` - an immutable table of native uint64 ``(offset, length)`` pairs;
* :class:`BufferWithSegments` - a bytes-like buffer plus such a table, validated once;
* :class:`BufferSegment` - one item, a view of its parent's memory that keeps it alive;
* :class:`BufferWithSegmentsCollection` - many buffers as one flat sequence of segments.

All are interchangeable with python-zstandard's: ``zstandard.BufferWithSegments(
memoryview(buf), buf.segments)`` shares the memory.  :func:`decompress_segments` runs
``multi_decompress_to_buffer`` over them without ever feeding it the inputs that crash it.
"""
from archive.buffers.buffer import BufferSegment, BufferWithSegments
from archive.buffers.collection import BufferWithSegmentsCollection
from archive.buffers.decompress import decompress_segments
from archive.buffers.segments import BufferSegments

__all__ = [
    "BufferSegment",
    "BufferSegments",
    "BufferWithSegments",
    "BufferWithSegmentsCollection",
    "decompress_segments",
]
