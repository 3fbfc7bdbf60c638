"""Property tests of archive.buffers against a plain ``list[bytes]`` model."""
from __future__ import annotations

import itertools
import mmap
import struct
from pathlib import Path

import numpy as np
import pytest
import zstandard
from hypothesis import assume, given
from hypothesis import strategies as st

from archive.buffers import (
    BufferSegments,
    BufferWithSegments,
    BufferWithSegmentsCollection,
    decompress_segments,
)

U64 = 2**64 - 1
WRAPPERS = {
    "bytes": bytes,
    "bytearray": bytearray,
    "memoryview": lambda d: memoryview(bytearray(d)),
    "ndarray": lambda d: np.frombuffer(d, dtype=np.uint8).copy(),
}


@st.composite
def valid_tables(draw: st.DrawFn, size: int, min_segments: int = 0) -> list[tuple[int, int]]:
    """Segments inside ``size`` bytes (possibly empty, overlapping or at the very end)."""
    count = draw(st.integers(min_segments, 12))
    pairs = []
    for _ in range(count):
        offset = draw(st.integers(0, size))
        pairs.append((offset, draw(st.integers(0, size - offset))))
    return pairs


@st.composite
def buffers(draw: st.DrawFn, min_segments: int = 0) -> tuple[bytes, list[tuple[int, int]]]:
    data = draw(st.binary(max_size=300))
    return data, draw(valid_tables(len(data), min_segments))


def raw(pairs: list[tuple[int, int]]) -> bytes:
    return b"".join(struct.pack("=QQ", o, n) for o, n in pairs)


def model(data: bytes, pairs: list[tuple[int, int]]) -> list[bytes]:
    return [data[o:o + n] for o, n in pairs]


def check_against_model(b: BufferWithSegments, data: bytes, pairs: list[tuple[int, int]]) -> None:
    expected = model(data, pairs)
    assert len(b) == len(expected) and b.size == len(data) and b.tobytes() == data
    assert list(b.segments) == pairs and bytes(b.segments) == raw(pairs)
    assert [bytes(s) for s in b] == expected
    for i in range(-len(expected), len(expected)):
        segment = b[i]
        assert segment == expected[i] and len(segment) == len(expected[i])
        assert segment.offset == pairs[i][0] and segment.tobytes() == expected[i]
    for bad in (len(expected), -len(expected) - 1):
        with pytest.raises(IndexError):
            b[bad]


@given(buffers(), st.sampled_from(sorted(WRAPPERS)), st.booleans())
def test_buffer_matches_model(case: tuple[bytes, list[tuple[int, int]]], wrapper: str,
                              as_array: bool) -> None:
    data, pairs = case
    segments = np.array(pairs, dtype=np.uint64).reshape(-1, 2) if as_array else raw(pairs)
    check_against_model(BufferWithSegments(WRAPPERS[wrapper](data), segments), data, pairs)


@given(st.binary(max_size=64),
       st.lists(st.tuples(st.one_of(st.integers(0, 80), st.integers(U64 - 80, U64)),
                          st.one_of(st.integers(0, 80), st.integers(U64 - 80, U64))),
                max_size=6))
def test_constructor_accepts_exactly_the_tables_inside_the_data(
        data: bytes, pairs: list[tuple[int, int]]) -> None:
    inside = all(o + n <= len(data) for o, n in pairs)  # Python ints: no 64-bit wrap-around
    if inside:
        check_against_model(BufferWithSegments(data, raw(pairs)), data, pairs)
    else:
        with pytest.raises(ValueError):
            BufferWithSegments(data, raw(pairs))
        with pytest.raises(ValueError):
            BufferWithSegments(data, np.array(pairs, dtype=np.uint64))


@given(st.binary(max_size=64), st.binary(max_size=100))
def test_table_byte_length_must_be_whole_pairs(data: bytes, table: bytes) -> None:
    assume(len(table) % 16)
    with pytest.raises(ValueError):
        BufferWithSegments(data, table)
    with pytest.raises(ValueError):
        BufferSegments(bytearray(table))


@given(buffers(), st.data())
def test_writes_to_the_data_show_through_segments(case: tuple[bytes, list[tuple[int, int]]],
                                                   draw: st.DataObject) -> None:
    data, pairs = case
    assume(data)
    backing = bytearray(data)
    b = BufferWithSegments(backing, raw(pairs))
    segments = list(b)
    theirs = zstandard.BufferWithSegments(memoryview(b), b.segments)
    at = draw.draw(st.integers(0, len(data) - 1))
    backing[at] = (backing[at] + 1) % 256
    expected = model(bytes(backing), pairs)
    assert [bytes(s) for s in segments] == expected
    assert [theirs[i].tobytes() for i in range(len(theirs))] == expected


@given(st.lists(buffers(min_segments=1), min_size=1, max_size=8), st.data())
def test_collection_matches_flat_model(cases: list[tuple[bytes, list[tuple[int, int]]]],
                                       draw: st.DataObject) -> None:
    members = [BufferWithSegments(data, raw(pairs)) for data, pairs in cases]
    c = BufferWithSegmentsCollection(*members)
    flat = [x for data, pairs in cases for x in model(data, pairs)]
    where = [(m, j) for m, (_, pairs) in enumerate(cases) for j in range(len(pairs))]
    assert len(c) == len(flat) and c.size == sum(map(len, flat))
    assert [bytes(s) for s in c] == flat
    i = draw.draw(st.integers(-len(flat), len(flat) - 1))
    assert c[i] == flat[i] and c.locate(i) == where[i]
    member, local = where[i]
    assert c[i].parent is members[member] and c[i].offset == cases[member][1][local][0]
    for bad in (len(flat), -len(flat) - 1):
        with pytest.raises(IndexError):
            c[bad]


_names = itertools.count()


@given(buffers(), st.booleans())
def test_mapped_files_match_model(tmp_path_factory: pytest.TempPathFactory,
                                  case: tuple[bytes, list[tuple[int, int]]],
                                  writable: bool) -> None:
    data, pairs = case
    path = tmp_path_factory.getbasetemp() / f"prop-{next(_names)}.bin"
    path.write_bytes(data)
    if writable and data:  # a writable mapping: writes must show through segments
        with open(path, "r+b") as fh:
            mapped = mmap.mmap(fh.fileno(), 0)
        b = BufferWithSegments(mapped, raw(pairs))
        segments = list(b)
        mapped[:] = bytes(255 - x for x in data)
        data = bytes(mapped)
        assert [bytes(s) for s in segments] == model(data, pairs)
    else:
        b = BufferWithSegments.from_file(Path(path), raw(pairs))
    check_against_model(b, data, pairs)


ITEM = st.one_of(st.just(b""), st.binary(max_size=200),
                 st.builds(lambda c, n: c * n, st.binary(min_size=1, max_size=4),
                           st.integers(0, 500)))
# How an item becomes a segment: a frame with its size, one without, or (if empty) no bytes.
HOW = st.sampled_from(["sized", "unsized", "zero-length"])


@given(st.lists(st.tuples(ITEM, HOW), max_size=12), st.integers(1, 4),
       st.sampled_from([0, 2, 3]), st.booleans(), st.booleans())
def test_decompress_matches_model(items: list[tuple[bytes, str]], members: int, threads: int,
                                  pass_sizes: bool, bounded: bool) -> None:
    sized, unsized = zstandard.ZstdCompressor(), zstandard.ZstdCompressor(write_content_size=False)
    frames = []
    for item, how in items:
        if how == "zero-length" and not item:
            frames.append(b"")
        else:
            frames.append((unsized if how == "unsized" else sized).compress(item))
    expected = [item for item, _ in items]
    sizes = [len(x) for x in expected] if pass_sizes else None
    bound = max(map(len, expected), default=0) if bounded else None

    def pack(part: list[bytes]) -> BufferWithSegments:
        offsets = np.cumsum([0] + [len(f) for f in part])[:-1].tolist()
        pairs = list(zip(offsets, map(len, part), strict=True))
        return BufferWithSegments(b"".join(part), raw(pairs))

    if members == 1 or len(frames) < members:
        source: BufferWithSegments | BufferWithSegmentsCollection = pack(frames)
    else:
        cuts = np.linspace(0, len(frames), members + 1).astype(int).tolist()
        source = BufferWithSegmentsCollection(
            *[pack(frames[a:b]) for a, b in zip(cuts, cuts[1:], strict=False)])
    out = decompress_segments(source, sizes, threads=threads, max_output_size=bound)
    assert out == expected and all(type(x) is bytes for x in out)
