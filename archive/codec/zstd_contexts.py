"""zstd contexts, one per thread.

A zstd context holds mutable state; python-zstandard does not lock it, so a context used by two
threads at once corrupts that state and can crash the process (zstd's manual: "use one
different context per thread for parallel execution").  Everything in ``archive`` that keeps a
context beyond one call takes it from here; a ``ChunkEncoder`` owns its own compressor and is
used by one writer thread.
"""
from __future__ import annotations

import threading

import zstandard

_LOCAL = threading.local()


def decompressor() -> zstandard.ZstdDecompressor:
    """This thread's decompression context (no dictionary, no window limit beyond zstd's)."""
    dctx = getattr(_LOCAL, "dctx", None)
    if dctx is None:
        dctx = _LOCAL.dctx = zstandard.ZstdDecompressor()
    return dctx


def compressor(level: int, checksum: bool = False) -> zstandard.ZstdCompressor:
    """This thread's compression context at ``level`` (python-zstandard's default parameters;
    ``checksum``: frames carry zstd's content checksum)."""
    by_level = getattr(_LOCAL, "cctx", None)
    if by_level is None:
        by_level = _LOCAL.cctx = {}
    cctx = by_level.get((level, checksum))
    if cctx is None:
        cctx = by_level[(level, checksum)] = zstandard.ZstdCompressor(level=level, write_checksum=checksum)
    return cctx
