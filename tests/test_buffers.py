"""Unit tests of archive.buffers: every rule of the buffer types (decompress_segments:
test_buffers_decompress.py)."""
from __future__ import annotations

import gc
import mmap
import pickle
import struct
import weakref
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import zstandard

from archive.buffers import (
    BufferSegment,
    BufferSegments,
    BufferWithSegments,
    BufferWithSegmentsCollection,
)

DATA = b"hello, wonderful world"
PAIRS = [(0, 5), (7, 9), (17, 5), (22, 0)]


def table(pairs: list[tuple[int, int]]) -> bytes:
    return b"".join(struct.pack("=QQ", o, n) for o, n in pairs)


def make(data: object = DATA, pairs: list[tuple[int, int]] = PAIRS) -> BufferWithSegments:
    return BufferWithSegments(data, table(pairs))


# -- BufferSegments -------------------------------------------------------------------------

def test_segments_sequence_and_numpy_views() -> None:
    s = BufferSegments(table(PAIRS))
    assert len(s) == 4 and bool(s) and not BufferSegments(b"")
    assert s[1] == (7, 9) and s[-1] == (22, 0) and list(s) == PAIRS
    assert all(type(v) is int for pair in s for v in pair)
    assert s.array.shape == (4, 2) and s.array.dtype == np.uint64 and type(s.array) is np.ndarray
    assert s.offsets.tolist() == [0, 7, 17, 22] and s.lengths.tolist() == [5, 9, 5, 0]
    assert np.shares_memory(s.array, s) and np.shares_memory(s.offsets, s)
    assert isinstance(s[1:3], BufferSegments) and list(s[1:3]) == PAIRS[1:3]
    with pytest.raises(IndexError):
        s[4]
    with pytest.raises(IndexError):
        s[-5]
    with pytest.raises(TypeError):
        s["1"]


def test_segments_buffer_protocol_is_native_uint64_pairs() -> None:
    s = BufferSegments(table(PAIRS))
    assert bytes(s) == table(PAIRS) and memoryview(s).nbytes == 16 * len(PAIRS)
    theirs = zstandard.BufferWithSegments(DATA, s)  # zstandard reads our table as its own
    assert [theirs[i].tobytes() for i in range(len(theirs))] == [DATA[o:o + n] for o, n in PAIRS]


def test_segments_sources() -> None:
    raw = table(PAIRS)
    assert np.shares_memory(BufferSegments(raw).array, np.frombuffer(raw, np.uint64))
    mutable = bytearray(raw)
    copied = BufferSegments(mutable)
    mutable[0] = 99  # a mutable source is copied: the validated table cannot change
    assert copied[0] == (0, 5)
    assert list(BufferSegments(np.array(PAIRS, dtype=np.int32))) == PAIRS
    assert list(BufferSegments(np.array(PAIRS, dtype=np.uint64).reshape(-1))) == PAIRS
    shared = BufferSegments(raw)
    assert np.shares_memory(BufferSegments(shared), shared)
    with pytest.raises(ValueError):
        BufferSegments(np.array([[0, -1]]))
    with pytest.raises(TypeError):
        BufferSegments(np.array([[0.0, 1.0]]))
    with pytest.raises(ValueError):
        BufferSegments(raw[:-1])
    with pytest.raises(TypeError):
        BufferSegments(PAIRS)
    with pytest.raises(TypeError):
        BufferSegments("0123456789abcdef")


def test_segments_immutable_equality_and_plain_ufuncs() -> None:
    s = BufferSegments(table(PAIRS))
    with pytest.raises(ValueError):
        s.array[0, 0] = 1
    assert s == BufferSegments(np.array(PAIRS)) and (s != BufferSegments(np.array(PAIRS))) is False
    assert s != BufferSegments(table(PAIRS[:2]))
    assert (s == s.array) is False and (s.array == s) is False
    with pytest.raises(TypeError):
        hash(s)
    assert type(s + 1) is np.ndarray and type(s.sum()) is not BufferSegments
    assert "BufferSegments(4 pairs" in repr(s)


# -- BufferWithSegments ---------------------------------------------------------------------

def test_buffer_sequence_rules() -> None:
    b = make()
    assert len(b) == 4 and b.size == len(DATA) and b.tobytes() == DATA
    assert bytes(memoryview(b)) == DATA and memoryview(b).readonly
    assert [bytes(x) for x in b] == [DATA[o:o + n] for o, n in PAIRS]
    assert b[-1].offset == 22 and bytes(b[-3]) == b"wonderful"
    assert b[np.int64(1)].offset == 7
    assert list(b.segments) == PAIRS and isinstance(b.segments, BufferSegments)
    for bad in (4, -5, 10**30):
        with pytest.raises(IndexError):
            b[bad]
    for bad in (slice(0, 1), 1.0, "1"):
        with pytest.raises(TypeError):
            b[bad]
    assert b"world" in b and b"nope" not in b
    assert bool(b) and not BufferWithSegments(DATA, b"")
    assert repr(b) == str(b) == f"BufferWithSegments(size={len(DATA)}, segments=4)"


def test_buffer_argument_errors() -> None:
    with pytest.raises(TypeError):
        BufferWithSegments()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        BufferWithSegments(DATA)  # type: ignore[call-arg]
    for bad in ("text", 5, [1, 2], None, np.arange(10, dtype=np.int16)[::2]):
        with pytest.raises(TypeError):
            BufferWithSegments(bad, b"")
    with pytest.raises(TypeError):
        BufferWithSegments(DATA, None)
    with pytest.raises(ValueError):
        BufferWithSegments(DATA, table(PAIRS)[:-3])


@pytest.mark.parametrize("pair", [(0, len(DATA) + 1), (len(DATA), 1), (len(DATA) + 1, 0),
                                  (2**64 - 1, 2), (2**63, 2**63), (1, 2**64 - 1)])
def test_buffer_rejects_segments_outside_data(pair: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="outside"):
        BufferWithSegments(DATA, table([(0, 1), pair]))


def test_buffer_edges_inside_data_are_fine() -> None:
    b = make(pairs=[(0, len(DATA)), (len(DATA), 0), (3, 4), (3, 4)])
    assert bytes(b[0]) == DATA and bytes(b[1]) == b"" and b[2] == b[3]


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview,
                                  lambda d: np.frombuffer(d, np.uint8).copy(),
                                  lambda d: np.frombuffer(d[:20], np.int32).copy(),
                                  lambda d: make(d, [])])
def test_buffer_accepts_any_bytes_like(wrap) -> None:  # type: ignore[no-untyped-def]
    data = wrap(DATA)
    b = BufferWithSegments(data, table([(7, 9)]))
    assert bytes(b[0]) == b"wonderful"
    assert np.shares_memory(b, np.frombuffer(memoryview(data), np.uint8))


def test_buffer_is_zero_copy_over_bytearray_and_zstandard_sees_it() -> None:
    data = bytearray(DATA)
    b = BufferWithSegments(data, table(PAIRS))
    seg = b[1]
    theirs = zstandard.BufferWithSegments(memoryview(b), b.segments)
    data[7:16] = b"WONDERFUL"
    assert bytes(seg) == b"WONDERFUL" and theirs[1].tobytes() == b"WONDERFUL"
    assert len(theirs) == len(b) and theirs.size == b.size
    memoryview(seg)[0] = ord("w")  # writes through the segment land in the original data
    assert data[7:8] == b"w" and not memoryview(b).readonly
    with pytest.raises(BufferError):
        data.extend(b"!")  # the data cannot be reallocated under the views


def test_buffer_is_zero_copy_over_writable_mmap(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(DATA)
    with open(path, "r+b") as fh:
        mapped = mmap.mmap(fh.fileno(), 0)
    b = BufferWithSegments(mapped, table(PAIRS))
    theirs = zstandard.BufferWithSegments(memoryview(b), b.segments)
    mapped[0:5] = b"HELLO"
    assert bytes(b[0]) == b"HELLO" and theirs[0].tobytes() == b"HELLO"
    with pytest.raises(BufferError):
        mapped.close()  # numpy holds an export: the mapping cannot vanish under a segment
    del b, theirs
    gc.collect()
    mapped.close()


def test_buffer_equality_pickle_and_derived_arrays() -> None:
    b = make()
    assert b == make(bytearray(DATA)) and (b != make(bytearray(DATA))) is False
    assert b != make(pairs=PAIRS[:2]) and b != make(DATA.upper())
    assert (b == np.frombuffer(DATA, np.uint8)) is False
    with pytest.raises(TypeError):
        hash(b)
    restored = pickle.loads(pickle.dumps(b))
    assert type(restored) is BufferWithSegments and restored == b
    assert len(b.copy()) == 0 and b.copy().tobytes() == DATA  # derived: no segments
    assert type(b + 1) is np.ndarray and type(b.sum()) is not BufferWithSegments


def test_from_file(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(DATA)
    b = BufferWithSegments.from_file(path, table(PAIRS))
    assert [bytes(x) for x in b] == [DATA[o:o + n] for o, n in PAIRS]
    assert memoryview(b).readonly
    with pytest.raises(ValueError):
        BufferWithSegments.from_file(str(path), table([(20, 3)]))
    with pytest.raises(FileNotFoundError):
        BufferWithSegments.from_file(tmp_path / "missing", b"")


def test_from_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    assert len(BufferWithSegments.from_file(path, b"")) == 0
    b = BufferWithSegments.from_file(path, table([(0, 0)]))
    assert b.size == 0 and bytes(b[0]) == b""
    for pair in [(0, 1), (1, 0)]:
        with pytest.raises(ValueError):
            BufferWithSegments.from_file(path, table([pair]))


def test_mapping_outlives_the_buffer(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(DATA)
    seg = BufferWithSegments.from_file(path, table(PAIRS))[1]
    gc.collect()
    path.unlink()
    assert bytes(seg) == b"wonderful" and bytes(seg.parent[0]) == b"hello"


# -- BufferSegment --------------------------------------------------------------------------

def test_segment_bytes_semantics() -> None:
    b = make(bytearray(DATA))
    seg = b[1]
    assert isinstance(seg, BufferSegment) and len(seg) == 9 and seg.offset == 7
    assert seg.tobytes() == bytes(seg) == b"wonderful" and seg.parent is b
    assert np.shares_memory(seg, b) and np.shares_memory(np.asarray(memoryview(seg)), b)
    assert seg[0] == ord("w") and seg[-1] == ord("l") and type(seg[0]) is int
    assert type(seg[1:3]) is np.ndarray and bytes(seg[1:3]) == b"on"
    assert list(seg) == list(b"wonderful") and all(type(x) is int for x in seg)
    with pytest.raises(IndexError):
        seg[9]
    assert seg == b"wonderful" and seg == bytearray(b"wonderful") and b"wonderful" == seg  # noqa: SIM300
    assert seg == memoryview(b"wonderful") and seg == make()[1]
    assert seg != b"wonderfuL" and seg != b"wonder" and (seg == b"wonder") is False
    assert (seg == np.frombuffer(b"wonderful", np.uint8)) is True
    assert (seg == 5) is False and (seg == "wonderful") is False
    assert bool(seg) and not b[3] and len(b[3]) == 0
    with pytest.raises(TypeError):
        hash(seg)
    assert repr(seg) == "BufferSegment(offset=7, length=9)"


def test_segment_keeps_parent_alive() -> None:
    b = make(bytearray(DATA))
    alive = weakref.ref(b)
    seg = b[2]
    del b
    gc.collect()
    assert alive() is not None and bytes(seg) == b"world"
    del seg
    gc.collect()
    assert alive() is None


def test_segment_numpy_results_are_plain() -> None:
    seg = make()[1]
    assert type(seg + 1) is np.ndarray and type(np.add(seg, seg)) is np.ndarray
    assert int(seg.sum()) == sum(b"wonderful") and type(seg.sum()) is not BufferSegment
    with pytest.raises(TypeError):
        BufferSegment(3)
    with pytest.raises(AttributeError, match="derived"):
        _ = seg.copy().offset


# -- BufferWithSegmentsCollection -----------------------------------------------------------

def test_collection_rules() -> None:
    a, b = make(), make(b"0123456789", [(0, 3), (3, 7)])
    c = BufferWithSegmentsCollection(a, b)
    model = [DATA[o:o + n] for o, n in PAIRS] + [b"012", b"3456789"]
    assert isinstance(c, Sequence) and len(c) == 6 and c.buffers == (a, b)
    assert [bytes(c[i]) for i in range(6)] == model == [bytes(x) for x in c]
    assert [bytes(c[i]) for i in range(-6, 0)] == model
    assert c.size == sum(map(len, model)) and c[4].parent is b
    assert c.locate(4) == (1, 0) and c.locate(-1) == (1, 1) and c.locate(3) == (0, 3)
    assert c.index(b"012") == 4 and b"3456789" in c
    for bad in (6, -7):
        with pytest.raises(IndexError):
            c[bad]
        with pytest.raises(IndexError):
            c.locate(bad)
    with pytest.raises(TypeError):
        c[0:2]


def test_collection_argument_errors() -> None:
    with pytest.raises(ValueError):
        BufferWithSegmentsCollection()
    with pytest.raises(ValueError):
        BufferWithSegmentsCollection(make(), make(DATA, []))
    for bad in (DATA, BufferSegments(table(PAIRS)), None):
        with pytest.raises(TypeError):
            BufferWithSegmentsCollection(make(), bad)  # type: ignore[arg-type]


def test_collection_of_thousands_of_members() -> None:
    members = [make(bytes([k % 256]) * 3, [(0, 1), (1, 2)]) for k in range(3000)]
    c = BufferWithSegmentsCollection(*members)
    rng = np.random.default_rng(1)
    for i in rng.integers(0, len(c), 500).tolist():
        k, j = divmod(i, 2)
        assert c.locate(i) == (k, j) and bytes(c[i]) == bytes([k % 256]) * (j + 1)
