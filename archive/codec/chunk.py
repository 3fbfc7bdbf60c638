"""A chunk: one column's values for one record range, self-describing and checksummed.

Layout (little-endian), see FORMAT.md::

    offset size field
    0      4    magic  b"\\x89AC1"
    4      1    kind   1=int 2=float 3=bool 4=str 5=bytes
    5      1    flags  bit 0: body is a zstd frame (else the raw payload)
    6      2    reserved, zero
    8      4    count    number of values
    12     4    raw_len  payload length before compression
    16     4    body_len bytes of body that follow the header
    20     4    crc32    of the body
    24     ...  body

The payload is what :func:`archive.codec.registry.encode_values` produced (encoding id + body).
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Final, NamedTuple

import numpy as np
import zstandard

from archive.codec.lazy import Column
from archive.codec.registry import (
    KINDS,
    Kind,
    decode_values,
    decode_values_lazy,
    encode_values,
)
from archive.codec.zstd_contexts import decompressor
from archive.errors import CorruptChunkError

MAGIC: Final = b"\x89AC1"
HEADER: Final = struct.Struct("<4sBBHIIII")
HEADER_SIZE: Final = HEADER.size
FLAG_ZSTD: Final = 1
#: Hard format limits: a header claiming more is corrupt, whatever the body holds.
MAX_ITEMS: Final = 1 << 22
MAX_RAW_BYTES: Final = 1 << 28
_KIND_CODE: Final = {k: i + 1 for i, k in enumerate(KINDS)}
_CODE_KIND: Final = {v: k for k, v in _KIND_CODE.items()}


class ChunkHeader(NamedTuple):
    """A parsed chunk header (a named tuple: made once per chunk read, it must be cheap)."""

    kind: Kind
    compressed: bool
    count: int
    raw_len: int
    body_len: int
    crc32: int

    @property
    def total_len(self) -> int:
        return HEADER_SIZE + self.body_len


@dataclass(frozen=True, slots=True)
class EncodedChunk:
    data: bytes
    codec_id: int
    raw_len: int


class ChunkEncoder:
    """Configure once, encode many chunks (holds its zstd compressor)."""

    def __init__(self, level: int = 3) -> None:
        self.level = level
        self._zstd = zstandard.ZstdCompressor(level=level, write_content_size=True)

    def encode(self, kind: Kind, values: np.ndarray, only: tuple[int, ...] | None = None) -> EncodedChunk:
        """Encode a column slice; zstd is kept only when it makes the chunk smaller.

        ``only`` restricts the top-level encoding to these ids (tests and golden files).
        """
        if len(values) > MAX_ITEMS:
            raise ValueError(f"{len(values)} values exceed the chunk limit of {MAX_ITEMS}")
        payload = encode_values(kind, values, only=only)
        if len(payload) > MAX_RAW_BYTES:
            raise ValueError(f"chunk payload of {len(payload)} bytes exceeds {MAX_RAW_BYTES}")
        body = self._zstd.compress(payload)
        flags = FLAG_ZSTD
        if len(body) >= len(payload):
            body, flags = payload, 0
        head = HEADER.pack(MAGIC, _KIND_CODE[kind], flags, 0, len(values), len(payload),
                           len(body), zlib.crc32(body))
        return EncodedChunk(head + body, payload[0], len(payload))


def encode_chunk(kind: Kind, values: np.ndarray, level: int = 3) -> bytes:
    """One-shot helper: the bytes of one chunk (see :class:`ChunkEncoder`)."""
    return ChunkEncoder(level).encode(kind, values).data


def read_header(buf: bytes | memoryview) -> ChunkHeader:
    """Parse and sanity-check a chunk header (not the body)."""
    if len(buf) < HEADER_SIZE:
        raise CorruptChunkError(f"chunk of {len(buf)} bytes is shorter than its {HEADER_SIZE}-byte header")
    magic, kcode, flags, reserved, count, raw_len, body_len, crc = HEADER.unpack_from(buf, 0)
    if magic != MAGIC:
        raise CorruptChunkError(f"bad magic {bytes(magic)!r}, expected {MAGIC!r}")
    if kcode not in _CODE_KIND:
        raise CorruptChunkError(f"unknown kind code {kcode}")
    if flags & ~FLAG_ZSTD or reserved:
        raise CorruptChunkError(f"unknown flags {flags:#x} / reserved {reserved:#x}")
    if count > MAX_ITEMS:
        raise CorruptChunkError(f"header claims {count} values, the limit is {MAX_ITEMS}")
    if raw_len > MAX_RAW_BYTES:
        raise CorruptChunkError(f"header claims {raw_len} payload bytes, the limit is {MAX_RAW_BYTES}")
    if not flags & FLAG_ZSTD and raw_len != body_len:
        raise CorruptChunkError(f"uncompressed body of {body_len} bytes but raw length {raw_len}")
    return ChunkHeader(_CODE_KIND[kcode], bool(flags & FLAG_ZSTD), count, raw_len, body_len, crc)


def chunk_payload(buf: bytes | memoryview, header: ChunkHeader | None = None) -> bytes | memoryview:
    """Verify the checksum and return the uncompressed payload, with bounded allocation."""
    h = header or read_header(buf)
    mv = memoryview(buf)
    if len(mv) != h.total_len:
        raise CorruptChunkError(f"chunk is {len(mv)} bytes, its header says {h.total_len}")
    body = mv[HEADER_SIZE:]
    if zlib.crc32(body) != h.crc32:
        raise CorruptChunkError("checksum mismatch")
    if not h.compressed:
        return body
    return decompress_bounded(body, h.raw_len)


def decompress_bounded(frame: bytes | memoryview, expected: int) -> bytes:
    """Decompress one zstd frame that must yield exactly ``expected`` bytes.

    The frame's declared content size is checked *before* any allocation, so a frame that
    claims gigabytes is rejected instead of honoured.
    """
    try:
        declared = zstandard.frame_content_size(frame)
    except zstandard.ZstdError as e:
        raise CorruptChunkError(f"bad zstd frame header: {e}") from None
    if declared != expected:
        raise CorruptChunkError(f"zstd frame declares {declared} bytes, chunk header says {expected}")
    try:
        out = decompressor().decompress(frame, max_output_size=expected)
    except zstandard.ZstdError as e:
        raise CorruptChunkError(f"zstd: {e}") from None
    if len(out) != expected:
        raise CorruptChunkError(f"zstd frame yielded {len(out)} bytes, expected {expected}")
    return out


def decode_chunk(buf: bytes | memoryview) -> tuple[Kind, np.ndarray]:
    """Decode a whole chunk; returns its kind and values.  Any defect is CorruptChunkError."""
    h = read_header(buf)
    return h.kind, decode_values(h.kind, chunk_payload(buf, h), h.count)


def decode_payload(header: ChunkHeader, payload: bytes | memoryview) -> np.ndarray:
    """Decode an already-decompressed payload (the batch path: see archive.buffers)."""
    if len(payload) != header.raw_len:
        raise CorruptChunkError(f"payload is {len(payload)} bytes, header says {header.raw_len}")
    return decode_values(header.kind, payload, header.count)


def decode_payload_lazy(header: ChunkHeader, payload: bytes | memoryview) -> Column:
    """:func:`decode_payload`, with ``str``/``bytes`` values built only for the rows read
    (see :func:`archive.codec.registry.decode_values_lazy`); defects still raise here."""
    if len(payload) != header.raw_len:
        raise CorruptChunkError(f"payload is {len(payload)} bytes, header says {header.raw_len}")
    return decode_values_lazy(header.kind, payload, header.count)
