"""Hostile bytes for the fault tests: chunks framed around any payload with a valid
checksum, zstd frames that decompress to far more than they declare, and a cap on this
process's address space for decoding them in-process."""
from __future__ import annotations

import contextlib
import resource
import struct
import zlib
from collections.abc import Iterator

from archive.codec import registry
from archive.codec.chunk import HEADER, MAGIC

KIND_CODE: dict[str, int] = {k: i + 1 for i, k in enumerate(registry.KINDS)}


@contextlib.contextmanager
def address_space_limit(extra: int = 2 << 30) -> Iterator[None]:
    """Cap this process's address space at its current size + ``extra`` (a decoder that
    allocates from a hostile size fails with MemoryError instead of eating the machine)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    limit = vm + extra if hard == resource.RLIM_INFINITY else min(vm + extra, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def chunk(kind: str, count: int, payload: bytes, *, compressed_body: bytes | None = None,
          raw_len: int | None = None) -> bytes:
    """Frame a payload (or a given zstd body) as a chunk with a valid checksum."""
    body = payload if compressed_body is None else compressed_body
    flags = 0 if compressed_body is None else 1
    raw = len(payload) if raw_len is None else raw_len
    return HEADER.pack(MAGIC, KIND_CODE[kind], flags, 0, count, raw, len(body), zlib.crc32(body)) + body


def zstd_rle_frame(declared: int | None, blocks: int, block: int = 128 << 10) -> bytes:
    """A zstd frame of ``blocks`` RLE blocks of ``block`` zero bytes (4 bytes each on disk),
    declaring ``declared`` bytes of content (``None``: no size in the header)."""
    if declared is None:
        head = b"\x28\xb5\x2f\xfd" + bytes([0x00]) + bytes([(27 - 10) << 3])  # window 128 MiB
    else:
        head = b"\x28\xb5\x2f\xfd" + bytes([0xE0]) + struct.pack("<Q", declared)  # single segment
    out = [head]
    for i in range(blocks):
        last_bit = 1 if i == blocks - 1 else 0
        out.append((last_bit | (1 << 1) | (block << 3)).to_bytes(3, "little") + b"\x00")
    return b"".join(out)


BOMB_4G = zstd_rle_frame(4 << 30, 32768)  # 128 KiB on disk, 4 GiB when honoured
