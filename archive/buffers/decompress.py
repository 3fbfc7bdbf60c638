"""Decompress every segment of a buffer or collection of zstd frames, safely and in bulk.

``ZstdDecompressor.multi_decompress_to_buffer`` is fast but (python-zstandard 0.25) kills
the process on an empty input (SIGFPE), corrupts the heap when every frame decompresses to
nothing, and with ``threads >= 2`` mishandles trailing empty items.  It also needs every
frame's size up front.  :func:`decompress_segments` only ever hands it frames that are
non-empty and have a known, positive, bounded size; everything else is decided here or
decompressed one frame at a time.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import zstandard

from archive.buffers.buffer import BufferWithSegments
from archive.buffers.collection import BufferWithSegmentsCollection
from archive.errors import CorruptChunkError


#: What is used of a decompressor.  Checked by name, not class: wrappers are fine, and
#: subclassing ``ZstdDecompressor`` crashes the interpreter on deallocation (zstandard 0.25).
_DECOMPRESSOR_API = ("decompress", "decompressobj", "multi_decompress_to_buffer")


def _declared_size(frame: memoryview, i: int) -> int | None:
    """The content size frame ``i`` declares, ``None`` when it declares none."""
    try:
        size = zstandard.frame_content_size(frame)
    except zstandard.ZstdError as exc:
        raise CorruptChunkError(f"segment {i} is not a zstd frame: {exc}") from None
    return None if size == -1 else size


def _one(dctx: zstandard.ZstdDecompressor, frame: memoryview, i: int, size: int | None,
         declared: bool, bound: int | None) -> bytes:
    """Decompress frame ``i`` alone; ``size`` is its exact size when known (declared by the
    frame when ``declared``), ``bound`` the caller's output limit."""
    try:
        if declared:
            return dctx.decompress(frame)  # zstd allocates, and checks, the declared size
        if size is None and bound is None:
            obj = dctx.decompressobj()
            out = obj.decompress(frame)
            if not obj.eof:
                raise CorruptChunkError(f"segment {i}: truncated zstd frame")
            return out
        limit = bound if size is None else size
        # max_output_size=0 means "unlimited" to zstd, hence at least 1 and the check below.
        out = dctx.decompress(frame, max_output_size=max(limit, 1))  # type: ignore[type-var,arg-type]
    except zstandard.ZstdError as exc:
        raise CorruptChunkError(f"segment {i}: {exc}") from None
    if len(out) > limit or (size is not None and len(out) != size):  # type: ignore[operator]
        raise CorruptChunkError(f"segment {i} decompressed to {len(out)} bytes, "
                                f"expected {size if size is not None else f'at most {limit}'}")
    return out


def _members(source: BufferWithSegments | BufferWithSegmentsCollection
             ) -> list[BufferWithSegments]:
    if isinstance(source, BufferWithSegments):
        return [source]
    if isinstance(source, BufferWithSegmentsCollection):
        return list(source.buffers)
    raise TypeError(f"source must be a BufferWithSegments or a collection of them, "
                    f"not {type(source).__name__}")


def decompress_segments(source: BufferWithSegments | BufferWithSegmentsCollection,
                        sizes: Sequence[int] | np.ndarray | None = None, threads: int = 0,
                        decompressor: zstandard.ZstdDecompressor | None = None,
                        max_output_size: int | None = None) -> list[bytes]:
    """Decompress each segment of ``source`` (one zstd frame each) into one ``bytes``, in order.

    Zero-length segments give ``b""``.  ``sizes`` optionally gives each segment's
    decompressed size (one per segment, ``ValueError`` otherwise); it is required for bulk
    decompression of frames that declare no content size (those without a size are
    decompressed one by one), and a frame declaring a different size is corrupt.
    ``max_output_size`` bounds each frame's output: a frame whose declared (or given) size
    exceeds it raises :class:`~archive.errors.CorruptChunkError` before anything is
    decompressed; a frame with no known size is decompressed into at most that many bytes
    (zstd allocates the bound for it).  Without a bound, declared sizes are trusted and
    frames of unknown size are decompressed whole.
    ``threads`` is passed to ``multi_decompress_to_buffer``; ``decompressor`` is a
    ``ZstdDecompressor`` (e.g. one holding a dictionary; a fresh ``ZstdDecompressor()`` by
    default) or any object with its ``decompress``, ``decompressobj`` and
    ``multi_decompress_to_buffer`` methods.  Bad frames raise ``CorruptChunkError``; misuse
    raises ``TypeError``/``ValueError``.
    """
    members = _members(source)
    count = sum(len(m) for m in members)
    if sizes is not None and len(sizes) != count:
        raise ValueError(f"sizes has {len(sizes)} entries for {count} segments")
    if max_output_size is not None and max_output_size < 0:
        raise ValueError("max_output_size must not be negative")
    if not isinstance(threads, int):
        raise TypeError("threads must be an int")
    dctx = zstandard.ZstdDecompressor() if decompressor is None else decompressor
    if not all(callable(getattr(dctx, name, None)) for name in _DECOMPRESSOR_API):
        raise TypeError("decompressor must be a zstandard.ZstdDecompressor")

    results: list[bytes] = [b""] * count
    singles: list[tuple[int, memoryview, int | None, bool]] = []
    bulk: list[tuple[int, memoryview, int]] = []
    i = 0
    for member in members:
        view = memoryview(member)  # type: ignore[arg-type]
        for offset, length in member.segments:
            given = None if sizes is None else int(sizes[i])
            if given is not None and given < 0:
                raise ValueError(f"sizes[{i}] is negative")
            if length:
                frame = view[offset:offset + length]
                declared = _declared_size(frame, i)
                if declared is not None and given is not None and declared != given:
                    raise CorruptChunkError(
                        f"segment {i} declares {declared} bytes, expected {given}")
                size = given if declared is None else declared
                if max_output_size is not None and size is not None and size > max_output_size:
                    raise CorruptChunkError(
                        f"segment {i} decompresses to {size} bytes, over the limit "
                        f"of {max_output_size}")
                if size:
                    bulk.append((i, frame, size))
                else:
                    singles.append((i, frame, size, declared is not None))
            i += 1

    for j, frame, size, declared in singles:
        results[j] = _one(dctx, frame, j, size, declared, max_output_size)
    if bulk:
        _bulk(dctx, bulk, threads, results)
    return results


def _bulk(dctx: zstandard.ZstdDecompressor, bulk: list[tuple[int, memoryview, int]],
          threads: int, results: list[bytes]) -> None:
    """``multi_decompress_to_buffer`` over ``bulk`` entries ``(segment index, frame, size)``,
    every frame non-empty with a size > 0.

    Frames go in as a list of memoryviews (zstd takes their buffers, no copy): its
    ``BufferWithSegmentsCollection`` input checks ``decompressed_sizes`` against the frame
    count instead of its byte length, then reads past the buffer.
    """
    sizes = np.fromiter((size for _, _, size in bulk), dtype=np.uint64, count=len(bulk))
    try:
        out = dctx.multi_decompress_to_buffer(
            [frame for _, frame, _ in bulk], decompressed_sizes=sizes.tobytes(), threads=threads)
    except zstandard.ZstdError as exc:
        # zstd numbers the frames it was given; name the caller's segment instead.
        message = re.sub(r"item (\d+)", lambda mt: f"segment {bulk[int(mt.group(1))][0]}",
                         str(exc))
        raise CorruptChunkError(message) from None
    if len(out) != len(bulk):  # zstd has dropped items before; never misattribute results
        raise RuntimeError(f"zstd returned {len(out)} results for {len(bulk)} frames")
    for (i, _, _), item in zip(bulk, out, strict=True):  # type: ignore[call-overload]
        results[i] = item.tobytes()
