"""Unit tests of archive.buffers.decompress_segments: order, bounds checked before any
allocation, the inputs that crash zstd never reach it, corrupt frames, misuse."""
from __future__ import annotations

import numpy as np
import pytest
import zstandard

from archive.buffers import BufferWithSegments, BufferWithSegmentsCollection, decompress_segments
from archive.errors import CorruptChunkError
from tests.test_buffers import table


WITH_SIZE = zstandard.ZstdCompressor()
NO_SIZE = zstandard.ZstdCompressor(write_content_size=False)


class SpyDecompressor:
    """A ZstdDecompressor that records which entry points were used, with how many frames.

    A wrapper, not a subclass: subclassing zstandard's C type crashes on deallocation.
    """

    def __init__(self) -> None:
        self.real = zstandard.ZstdDecompressor()
        self.calls: list[tuple[str, int]] = []

    def multi_decompress_to_buffer(self, frames, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.calls.append(("multi", len(frames)))
        return self.real.multi_decompress_to_buffer(frames, *args, **kwargs)

    def decompress(self, data, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.calls.append(("one", 1))
        return self.real.decompress(data, *args, **kwargs)

    def decompressobj(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.calls.append(("obj", 1))
        return self.real.decompressobj(*args, **kwargs)


def pack(frames: list[bytes]) -> BufferWithSegments:
    offsets = np.cumsum([0] + [len(f) for f in frames[:-1]])
    return BufferWithSegments(b"".join(frames),
                              np.array([offsets, [len(f) for f in frames]]).T.reshape(-1, 2))


def huge_declared_frame() -> bytes:
    """A frame header declaring 1 TiB (only the first block follows)."""
    obj = zstandard.ZstdCompressor().compressobj(size=1 << 40)
    return obj.compress(b"\0" * 1000) + obj.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)


@pytest.mark.parametrize("threads", [0, 2])
def test_decompress_in_bulk_keeps_order(threads: int) -> None:
    items = [b"alpha" * 40, b"", b"beta" * 99, b"x", b"", b"gamma" * 7]
    frames = [WITH_SIZE.compress(x) if k % 3 else NO_SIZE.compress(x) for k, x in
              enumerate(items)]
    frames[4] = b""  # a zero-length segment: no frame at all
    spy = SpyDecompressor()
    sizes = [len(x) for x in items]
    assert decompress_segments(pack(frames), sizes, threads=threads, decompressor=spy) == items
    assert ("multi", 4) in spy.calls  # the empty frame and the zero-length segment stay out


@pytest.mark.parametrize("threads", [0, 2])
def test_decompress_collection_across_members(threads: int) -> None:
    parts = [[b"a" * 50, b"bb" * 30], [b"", b"c" * 9], [b"d" * 300]]
    members = [pack([WITH_SIZE.compress(x) for x in part]) for part in parts]
    c = BufferWithSegmentsCollection(*members)
    assert decompress_segments(c, threads=threads) == [x for part in parts for x in part]


@pytest.mark.parametrize("threads", [0, 2, 4])
def test_decompress_never_feeds_zstd_the_inputs_that_crash_it(threads: int) -> None:
    spy = SpyDecompressor()
    assert decompress_segments(BufferWithSegments(b"", b""), threads=threads,
                               decompressor=spy) == []
    empty = WITH_SIZE.compress(b"")
    assert decompress_segments(pack([empty] * 3), threads=threads, decompressor=spy) == [b""] * 3
    zero = BufferWithSegments(b"abc", table([(0, 0), (3, 0)]))
    c = BufferWithSegmentsCollection(zero, zero)
    assert decompress_segments(c, threads=threads, decompressor=spy) == [b""] * 4
    assert not [call for call in spy.calls if call[0] == "multi"]
    full = WITH_SIZE.compress(b"payload" * 20)
    trailing = pack([full, full, empty, empty, b""])
    assert decompress_segments(trailing, threads=threads, decompressor=spy) == (
        [b"payload" * 20] * 2 + [b""] * 3)
    assert ("multi", 2) in spy.calls


def test_decompress_frames_without_content_size() -> None:
    items = [b"one" * 30, b"", b"three" * 3]
    source = pack([NO_SIZE.compress(x) for x in items])
    spy = SpyDecompressor()
    assert decompress_segments(source, decompressor=spy) == items
    assert not [call for call in spy.calls if call[0] == "multi"]
    assert decompress_segments(source, max_output_size=90) == items
    assert decompress_segments(source, sizes=np.array([90, 0, 15])) == items
    for wrong in ([91, 0, 15], [89, 0, 15], [90, 1, 15]):
        with pytest.raises(CorruptChunkError):
            decompress_segments(source, sizes=wrong)
    with pytest.raises(CorruptChunkError, match="segment 0"):
        decompress_segments(source, max_output_size=89)


def test_decompress_bound_is_checked_before_decompressing() -> None:
    good = WITH_SIZE.compress(b"z" * 100)
    spy = SpyDecompressor()
    for frames in ([good, huge_declared_frame()], [good, WITH_SIZE.compress(b"y" * 101)]):
        with pytest.raises(CorruptChunkError, match="over the limit"):
            decompress_segments(pack(frames), max_output_size=100, decompressor=spy)
    with pytest.raises(CorruptChunkError, match="over the limit"):
        decompress_segments(pack([NO_SIZE.compress(b"q" * 200)]), sizes=[200],
                            max_output_size=100, decompressor=spy)
    assert spy.calls == []
    assert decompress_segments(pack([good, good]), max_output_size=100) == [b"z" * 100] * 2


def test_decompress_bomb_without_declared_size_stays_bounded() -> None:
    bomb = NO_SIZE.compress(b"\0" * (32 << 20))
    with pytest.raises(CorruptChunkError):
        decompress_segments(pack([bomb]), max_output_size=1 << 16)
    assert decompress_segments(pack([NO_SIZE.compress(b"")]), max_output_size=0) == [b""]


def test_decompress_corrupt_frames() -> None:
    good = WITH_SIZE.compress(b"fine" * 50)
    with pytest.raises(CorruptChunkError, match="segment 1"):
        decompress_segments(pack([good, b"not a zstd frame at all"]))
    with pytest.raises(CorruptChunkError, match="segment 1"):
        decompress_segments(pack([good, good[:-5]]), threads=2)
    with pytest.raises(CorruptChunkError, match="truncated"):
        decompress_segments(pack([NO_SIZE.compress(b"fine" * 50)[:-5]]))
    with pytest.raises(CorruptChunkError, match="declares"):
        decompress_segments(pack([good]), sizes=[7])


def test_decompress_misuse() -> None:
    source = pack([WITH_SIZE.compress(b"abc")])
    with pytest.raises(TypeError):
        decompress_segments([b"abc"])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        decompress_segments(source, sizes=[3, 3])
    with pytest.raises(ValueError):
        decompress_segments(source, sizes=[-1])
    with pytest.raises(ValueError):
        decompress_segments(source, max_output_size=-1)
    with pytest.raises(TypeError):
        decompress_segments(source, threads="2")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        decompress_segments(source, decompressor=zstandard.ZstdCompressor())  # type: ignore[arg-type]


def test_decompress_uses_the_given_decompressor() -> None:
    dictionary = zstandard.ZstdCompressionDict(b"shared dictionary content " * 40)
    items = [b"shared dictionary content and more", b"content " * 10]
    frames = [zstandard.ZstdCompressor(dict_data=dictionary).compress(x) for x in items]
    with pytest.raises(CorruptChunkError):
        decompress_segments(pack(frames))
    dctx = zstandard.ZstdDecompressor(dict_data=dictionary)
    assert decompress_segments(pack(frames), decompressor=dctx) == items
