"""A chunk: one column's values for one record range, self-describing and checksummed.

Layout (little-endian), see FORMAT.md::

    offset size field
    0      4    magic  b"\\x89AC1"
    4      1    kind   1=int 2=float 3=bool 4=str 5=bytes
    5      1    flags  bit 0: body is a zstd frame (else the raw payload);
                         bit 1: the frame was compressed with dictionary ``dict_id``
    6      2    dict_id  u16, 0 unless bit 1 is set (see archive.codec.zdict)
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
from archive.codec.zdict import MAX_SAMPLE as DICT_PAYLOAD_MAX
from archive.codec.zdict import Dicts
from archive.codec.zstd_contexts import decompressor
from archive.errors import CorruptChunkError

MAGIC: Final = b"\x89AC1"
HEADER: Final = struct.Struct("<4sBBHIIII")
HEADER_SIZE: Final = HEADER.size
FLAG_ZSTD: Final = 1
FLAG_DICT: Final = 2
#: Hard format limits: a header claiming more is corrupt, whatever the body holds.
MAX_ITEMS: Final = 1 << 22
MAX_RAW_BYTES: Final = 1 << 28
_KIND_CODE: Final = {k: i + 1 for i, k in enumerate(KINDS)}
_CODE_KIND: Final = {v: k for k, v in _KIND_CODE.items()}


class ChunkHeader(NamedTuple):
    """A parsed chunk header (a named tuple: made once per chunk read, it must be cheap)."""

    kind: Kind
    compressed: bool
    count: int  # type: ignore[assignment]  # the field shadows tuple.count on purpose
    raw_len: int
    body_len: int
    crc32: int
    dict_id: int = 0

    @property
    def total_len(self) -> int:
        return HEADER_SIZE + self.body_len


@dataclass(frozen=True, slots=True)
class EncodedChunk:
    data: bytes
    codec_id: int
    raw_len: int
    #: the uncompressed payload (a writer trains column dictionaries on it)
    payload: bytes = b""


class ChunkEncoder:
    """Configure once, encode many chunks (holds its zstd compressor).  ``dicts``: the
    archive's dictionaries, for :meth:`encode`'s ``dict_id``."""

    def __init__(self, level: int = 3, dicts: Dicts | None = None) -> None:
        self.level = level
        self.dicts = dicts
        self._zstd = zstandard.ZstdCompressor(level=level, write_content_size=True)

    def encode(self, kind: Kind, values: np.ndarray, only: tuple[int, ...] | None = None,
               dict_id: int = 0, raw_below: int = 0) -> EncodedChunk:
        """Encode a column slice; zstd is kept only when it makes the chunk smaller.

        ``only`` restricts the top-level encoding to these ids (tests and golden files);
        ``dict_id`` (not 0) compresses with that dictionary of ``dicts`` (payloads up to
        :data:`~archive.codec.zdict.MAX_SAMPLE` bytes; larger ones compress alone).
        ``raw_below``: a payload of at most this many bytes is stored uncompressed (the
        writer bundles such chunks, see :mod:`archive.storage.bundles`).
        """
        if len(values) > MAX_ITEMS:
            raise ValueError(f"{len(values)} values exceed the chunk limit of {MAX_ITEMS}")
        payload = encode_values(kind, values, only=only)
        if len(payload) > MAX_RAW_BYTES:
            raise ValueError(f"chunk payload of {len(payload)} bytes exceeds {MAX_RAW_BYTES}")
        if len(payload) <= raw_below:
            body, flags, dict_id = payload, 0, 0
        elif dict_id and len(payload) <= DICT_PAYLOAD_MAX:  # larger ones need no history
            assert self.dicts is not None, "a dictionary id needs the encoder's dicts"
            body, flags = self.dicts.compressor(dict_id, self.level).compress(payload), FLAG_ZSTD | FLAG_DICT
        else:
            body, flags = self._zstd.compress(payload), FLAG_ZSTD
        if len(body) >= len(payload):
            body, flags, dict_id = payload, 0, 0
        head = HEADER.pack(MAGIC, _KIND_CODE[kind], flags, dict_id, len(values), len(payload),
                           len(body), zlib.crc32(body))
        return EncodedChunk(head + body, payload[0], len(payload), payload)


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
    if flags & ~(FLAG_ZSTD | FLAG_DICT) or bool(reserved) != bool(flags & FLAG_DICT) \
            or flags & FLAG_DICT and not flags & FLAG_ZSTD:
        raise CorruptChunkError(f"unknown flags {flags:#x} / dictionary {reserved:#x}")
    if count > MAX_ITEMS:
        raise CorruptChunkError(f"header claims {count} values, the limit is {MAX_ITEMS}")
    if raw_len > MAX_RAW_BYTES:
        raise CorruptChunkError(f"header claims {raw_len} payload bytes, the limit is {MAX_RAW_BYTES}")
    if not flags & FLAG_ZSTD and raw_len != body_len:
        raise CorruptChunkError(f"uncompressed body of {body_len} bytes but raw length {raw_len}")
    return ChunkHeader(_CODE_KIND[kcode], bool(flags & FLAG_ZSTD), count, raw_len, body_len, crc, reserved)


def chunk_payload(buf: bytes | memoryview, header: ChunkHeader | None = None,
                  dicts: Dicts | None = None) -> bytes | memoryview:
    """Verify the checksum and return the uncompressed payload, with bounded allocation.
    ``dicts``: the archive's dictionaries (a chunk naming one not there is corrupt)."""
    h = header or read_header(buf)
    mv = memoryview(buf)
    if len(mv) != h.total_len:
        raise CorruptChunkError(f"chunk is {len(mv)} bytes, its header says {h.total_len}")
    body = mv[HEADER_SIZE:]
    if zlib.crc32(body) != h.crc32:
        raise CorruptChunkError("checksum mismatch")
    if not h.compressed:
        return body
    if h.dict_id:
        return decompress_bounded(body, h.raw_len, (dicts or Dicts()).decompressor(h.dict_id))
    return decompress_bounded(body, h.raw_len)


def decompress_bounded(frame: bytes | memoryview, expected: int,
                       dctx: zstandard.ZstdDecompressor | None = None) -> bytes:
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
        out = (dctx or decompressor()).decompress(frame, max_output_size=expected)
    except zstandard.ZstdError as e:
        raise CorruptChunkError(f"zstd: {e}") from None
    if len(out) != expected:
        raise CorruptChunkError(f"zstd frame yielded {len(out)} bytes, expected {expected}")
    return out


def decode_chunk(buf: bytes | memoryview, dicts: Dicts | None = None) -> tuple[Kind, np.ndarray]:
    """Decode a whole chunk; returns its kind and values.  Any defect is CorruptChunkError.
    ``dicts``: the archive's dictionaries (``Archive.dicts``), for chunks compressed with one."""
    h = read_header(buf)
    return h.kind, decode_values(h.kind, chunk_payload(buf, h, dicts), h.count)


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
