"""zstd-packed index values: group directories, segment tables, column/shape definitions.

A packed value is one zstd frame that declares its content size and carries zstd's content
checksum.  Unpacking checks the declared size against what the caller expects (and against
:data:`MAX_PACKED`) *before* anything is allocated, so a garbled or hostile entry costs an
error, never a huge allocation; a flipped bit fails the frame or its checksum.  Every failure
is a :class:`~archive.errors.CorruptIndexError` naming the entry.
"""
from __future__ import annotations

from typing import Final

import zstandard

from archive.codec.chunk import decompress_bounded
from archive.codec.zstd_contexts import compressor
from archive.errors import CorruptChunkError, CorruptIndexError

#: zstd level of index values (written once per commit, read at every open).
LEVEL: Final = 9
#: Largest unpacked index value accepted (a group directory of ~1.6 M chunks).
MAX_PACKED: Final = 64 << 20


def pack(raw: bytes) -> bytes:
    """``raw`` as one checksummed zstd frame that declares its size."""
    if len(raw) > MAX_PACKED:
        raise ValueError(f"an index value of {len(raw)} bytes exceeds {MAX_PACKED}")
    return compressor(LEVEL, checksum=True).compress(raw)


def unpack(frame: bytes | memoryview, what: str, expected: int | None = None) -> bytes:
    """The bytes :func:`pack` packed; ``expected``: the exact size the caller's header states.

    Raises :class:`CorruptIndexError` naming ``what`` when the frame is damaged, declares
    another size than ``expected`` or more than :data:`MAX_PACKED`, or fails its checksum.
    """
    try:
        declared = zstandard.frame_content_size(frame)
    except zstandard.ZstdError as e:
        raise CorruptIndexError(f"{what}: bad zstd frame header: {e}") from None
    if declared < 0 or declared > MAX_PACKED:
        raise CorruptIndexError(f"{what}: packed value declares {declared} bytes "
                                f"(at most {MAX_PACKED} accepted)")
    if expected is not None and declared != expected:
        raise CorruptIndexError(f"{what}: packed value declares {declared} bytes, its header "
                                f"says {expected}")
    try:
        return decompress_bounded(frame, declared)
    except CorruptChunkError as e:  # the chunks' bounded decompression, for an index value
        raise CorruptIndexError(f"{what}: {e.reason}") from None
