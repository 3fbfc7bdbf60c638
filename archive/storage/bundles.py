"""Bundles: a group's small chunks stored together in one zstd frame.

A column chunk of a few hundred bytes compressed alone pays zstd's frame overhead and starts
with an empty history; wide records (hundreds of paths) and small commits are mostly such
chunks.  The writer therefore stores every chunk whose payload is at most
``Settings.bundle_bytes`` *uncompressed* and packs consecutive ones of a group into a bundle:
one segment of the segment file, laid out (little-endian, see FORMAT.md)::

    offset size field
    0      4    magic  b"\\x89ACB"
    4      4    raw_len   bytes of the member chunks, back to back (<= MAX_BUNDLE_RAW)
    8      4    body_len  bytes of body that follow the header
    12     4    crc32     of the body
    16     ...  body: one zstd frame (content size declared) of the member chunks

Each member is a complete, standalone chunk (header, raw body, its own crc); the index names
it by the bundle's segment and its ``(at, stored)`` place in the decompressed bytes.  Reading
a member decompresses its bundle once (bounded by the header, checked against the frame) and
keeps it in a small :class:`BundleCache`.
"""
from __future__ import annotations

import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from archive.codec.chunk import decompress_bounded
from archive.codec.zstd_contexts import compressor
from archive.errors import CorruptChunkError
from archive.index.records import REF_AT, REF_FILE, REF_SEG

BUNDLE_MAGIC: Final = b"\x89ACB"
BUNDLE_HEADER: Final = struct.Struct("<4sIII")
#: Hard format limit of a bundle's decompressed size: a header claiming more is corrupt.
MAX_BUNDLE_RAW: Final = 4 << 20
#: The writer closes a bundle once its members reach this many bytes.
BUNDLE_TARGET: Final = 256 << 10
#: The largest chunk a writer may bundle (``Settings.bundle_bytes``' limit): a bundle stays
#: under BUNDLE_TARGET + this + a chunk header, within MAX_BUNDLE_RAW.
MAX_BUNDLE_MEMBER: Final = 1 << 20
#: Decompressed bundles a reader keeps (most recently used first out last).
CACHE_BYTES: Final = 8 << 20


def pack_bundle(members: list[bytes], level: int) -> bytes:
    """The stored bytes of a bundle of these complete chunks (in this order)."""
    raw = b"".join(members)
    if len(raw) > MAX_BUNDLE_RAW:
        raise ValueError(f"a bundle of {len(raw)} bytes exceeds {MAX_BUNDLE_RAW}")
    body = compressor(level).compress(raw)
    return BUNDLE_HEADER.pack(BUNDLE_MAGIC, len(raw), len(body), zlib.crc32(body)) + body


def bundle_sizes(buf: bytes | memoryview) -> tuple[int, int]:
    """``(raw_len, stored_len)`` of a stored bundle, from its checked header."""
    if len(buf) < BUNDLE_HEADER.size:
        raise CorruptChunkError(f"bundle of {len(buf)} bytes is shorter than its "
                                f"{BUNDLE_HEADER.size}-byte header")
    magic, raw_len, body_len, _crc = BUNDLE_HEADER.unpack_from(buf, 0)
    if magic != BUNDLE_MAGIC:
        raise CorruptChunkError(f"bad bundle magic {bytes(magic)!r}, expected {BUNDLE_MAGIC!r}")
    if raw_len > MAX_BUNDLE_RAW:
        raise CorruptChunkError(f"bundle header claims {raw_len} bytes, the limit is {MAX_BUNDLE_RAW}")
    if BUNDLE_HEADER.size + body_len != len(buf):
        raise CorruptChunkError(f"bundle is {len(buf)} bytes, its header says "
                                f"{BUNDLE_HEADER.size + body_len}")
    return raw_len, len(buf)


def unpack_bundle(buf: bytes | memoryview) -> bytes:
    """The member chunks' bytes of a stored bundle; any defect is :class:`CorruptChunkError`."""
    raw_len, _ = bundle_sizes(buf)
    body = memoryview(buf)[BUNDLE_HEADER.size:]
    if zlib.crc32(body) != BUNDLE_HEADER.unpack_from(buf, 0)[3]:
        raise CorruptChunkError("bundle checksum mismatch")
    return decompress_bounded(body, raw_len)


class BundlePacker:
    """Packs a group's small chunks, in the order given, into bundles of about
    :data:`BUNDLE_TARGET` bytes.  ``store(bundle_bytes)`` stores a finished bundle and returns
    its ``(file, segment)``, written into its members' references (lists laid out like
    ``CHUNK_REF``, see :data:`~archive.index.records.REF_AT`)."""

    def __init__(self, level: int, store: Callable[[bytes], tuple[int, int]]) -> None:
        self.level = level
        self.store = store
        self._chunks: list[bytes] = []
        self._refs: list[list[int]] = []
        self._size = 0

    def add(self, chunk: bytes, ref: list[int]) -> None:
        """Add a chunk; its reference gets its place now and its segment when the bundle closes."""
        ref[REF_AT] = self._size
        self._size += len(chunk)
        self._chunks.append(chunk)
        self._refs.append(ref)
        if self._size >= BUNDLE_TARGET:
            self.close()

    def close(self) -> None:
        """Store the open bundle, if any (call once the group's chunks are all added)."""
        if not self._chunks:
            return
        fno, seg = self.store(pack_bundle(self._chunks, self.level))
        for ref in self._refs:
            ref[REF_FILE], ref[REF_SEG] = fno, seg
        self._chunks, self._refs, self._size = [], [], 0


class BundleCache:
    """Decompressed bundles by ``(file, segment)``, least recently used dropped first once
    they pass ``limit`` bytes.  Safe to share between threads (a miss may decompress twice)."""

    def __init__(self, limit: int = CACHE_BYTES) -> None:
        self.limit = limit
        self._items: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[int, int]) -> bytes | None:
        with self._lock:
            raw = self._items.get(key)
            if raw is not None:
                self._items.move_to_end(key)
            return raw

    def put(self, key: tuple[int, int], raw: bytes) -> None:
        with self._lock:
            if key in self._items:
                return
            self._items[key] = raw
            self._bytes += len(raw)
            while self._bytes > self.limit and len(self._items) > 1:
                _, old = self._items.popitem(last=False)
                self._bytes -= len(old)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
