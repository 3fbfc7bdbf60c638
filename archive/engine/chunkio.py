"""Reading chunks through a view: one at a time, or a batch decompressed on several threads.

``str``/``bytes`` chunks decode lazily (:mod:`archive.codec.lazy`): every check is made here,
but Python objects are built only for the rows a reader asks for.

Every defect found while reading a chunk becomes a :class:`CorruptChunkError` that names the
segment file and the chunk's offset in it, whatever layer found it (index, checksum, zstd,
encoding).
"""
from __future__ import annotations

import zlib
from typing import Final

import numpy as np

from archive.buffers import BufferWithSegments, BufferWithSegmentsCollection, decompress_segments
from archive.codec.chunk import (
    HEADER_SIZE, ChunkHeader, chunk_payload, decode_payload_lazy, decompress_bounded, read_header,
)
from archive.codec.lazy import Column
from archive.codec.registry import Kind
from archive.engine.view import View
from archive.errors import CorruptChunkError
from archive.index.records import NO_BUNDLE

#: Batches with less compressed data than this are decompressed inline: measured on 2 cores,
#: multi_decompress_to_buffer costs more than it saves on a typical group (~60 KiB stored).
MIN_THREADED_BYTES: Final = 4 << 20


def _locate(view: View, ref: np.void) -> tuple[str, int]:
    fv = view.files.get(int(ref["file"]))
    if fv is None:
        return f"segment file #{int(ref['file'])}", -1
    seg = int(ref["seg"])
    off = int(fv.segments[seg][0]) if 0 <= seg < len(fv.segments) else -1
    return str(fv.path), off


def _fail(view: View, ref: np.void, err: CorruptChunkError) -> CorruptChunkError:
    path, off = _locate(view, ref)
    reason = err.reason
    if int(ref["at"]) != NO_BUNDLE:
        reason = f"bundled chunk at {int(ref['at'])}: {reason}"
    return CorruptChunkError(reason, path=path, offset=None if off < 0 else off)


def _check(h: ChunkHeader, ref: np.void, kind: Kind) -> None:
    if h.kind != kind:
        raise CorruptChunkError(f"chunk holds {h.kind} values, the index expects {kind}")
    if h.count != int(ref["count"]):
        raise CorruptChunkError(f"chunk holds {h.count} values, the index says {int(ref['count'])}")


def decode_ref(view: View, ref: np.void, kind: Kind) -> Column:
    """Decode one chunk, checking it against its index entry."""
    try:
        buf = view.chunk(ref)
        h = read_header(buf)
        _check(h, ref, kind)
        return decode_payload_lazy(h, chunk_payload(buf, h, view.dicts))
    except CorruptChunkError as e:
        if e.path is not None:
            raise
        raise _fail(view, ref, e) from None


def threaded(refs: list[np.void], threads: int) -> bool:
    """Whether :func:`decode_refs` decompresses these chunks on several threads (otherwise it
    decodes them one by one, which costs the same as decoding each when first needed)."""
    return (len(refs) >= 2 and threads >= 2
            and sum(int(r["stored"]) for r in refs) >= MIN_THREADED_BYTES)


def decode_refs(view: View, refs: list[tuple[np.void, Kind]], threads: int = 2) -> list[Column]:
    """Decode many chunks; their zstd frames are decompressed in one multi-threaded call."""
    if not threaded([r for r, _ in refs], threads):
        return [decode_ref(view, r, k) for r, k in refs]
    headers: list[ChunkHeader] = []
    frames: dict[int, list[tuple[int, int, int]]] = {}  # file -> (index, offset, length)
    for i, (ref, kind) in enumerate(refs):
        try:
            buf = view.chunk(ref)
            h = read_header(buf)
            _check(h, ref, kind)
            if len(buf) != h.total_len or zlib.crc32(memoryview(buf)[HEADER_SIZE:]) != h.crc32:
                chunk_payload(buf, h, view.dicts)  # raises the precise error
        except CorruptChunkError as e:
            raise _fail(view, ref, e) from None
        headers.append(h)
        if h.compressed and not h.dict_id and int(ref["at"]) == NO_BUNDLE:
            # (dictionary frames and bundle members decompress one by one)
            fno, seg = int(ref["file"]), int(ref["seg"])
            off = int(view.files[fno].segments[seg][0])
            frames.setdefault(fno, []).append((i, off + HEADER_SIZE, h.body_len))
    payloads: dict[int, bytes] = {}
    if frames:
        members: list[BufferWithSegments] = []
        order: list[int] = []
        sizes: list[int] = []
        for fno, items in frames.items():
            segs = np.array([(o, n) for _, o, n in items], dtype=np.uint64)
            mapped = memoryview(view.files[fno].mapped)  # type: ignore[arg-type]
            members.append(BufferWithSegments(mapped, segs))
            order.extend(i for i, _, _ in items)
            sizes.extend(headers[i].raw_len for i, _, _ in items)
        coll = BufferWithSegmentsCollection(*members)
        try:
            out = decompress_segments(coll, sizes=sizes, threads=threads, max_output_size=max(sizes))
        except CorruptChunkError:
            # Find which chunk it was, to name it.
            return [decode_ref(view, r, k) for r, k in refs]
        payloads = dict(zip(order, out))
    result = []
    for i, (ref, _kind) in enumerate(refs):
        h = headers[i]
        try:
            payload: bytes | memoryview
            if i in payloads:
                payload = payloads[i]
            else:  # raw, or a dictionary frame (checksums checked above)
                body = memoryview(view.chunk(ref))[HEADER_SIZE:]
                payload = (decompress_bounded(body, h.raw_len, view.dicts.decompressor(h.dict_id))
                           if h.compressed else body)
            result.append(decode_payload_lazy(h, payload))
        except CorruptChunkError as e:
            raise _fail(view, ref, e) from None
    return result
