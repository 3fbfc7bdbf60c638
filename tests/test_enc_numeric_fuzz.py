"""Numeric encodings against damaged and hostile payloads.

Whatever the bytes, decoding gives exactly ``count`` values of the kind's dtype or raises
CorruptChunkError: no other exception, no hang, no allocation beyond checked sizes.
"""
from __future__ import annotations

import struct
import time
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive.codec import bools, floats, ints
from archive.codec.chunk import HEADER, MAGIC, MAX_ITEMS, decode_chunk, encode_chunk
from archive.codec.framing import Writer
from archive.codec.registry import DTYPES, MAX_DEPTH, decode_values, encode_values
from archive.errors import CorruptChunkError

try:  # tests/ is a package
    from tests.test_enc_numeric import BOOL_IDS, FLOAT_IDS, INT_IDS, STRATEGY
except ImportError:  # tests/ on sys.path (rootdir-relative import mode)
    from test_enc_numeric import BOOL_IDS, FLOAT_IDS, INT_IDS, STRATEGY

I64 = np.iinfo(np.int64)
CASES = [("int", c) for c in INT_IDS + (None,)] + [("float", c) for c in FLOAT_IDS + (None,)] + [
    ("bool", c) for c in BOOL_IDS + (None,)]


def check_decode(kind: str, payload: bytes, count: int) -> np.ndarray | None:
    """Decode must give ``count`` values of the right dtype or CorruptChunkError, quickly."""
    start = time.perf_counter()
    try:
        out = decode_values(kind, payload, count)
    except CorruptChunkError:
        out = None
    else:
        assert len(out) == count and out.dtype == DTYPES[kind]
    assert time.perf_counter() - start < 2.0, "decoding took too long"
    return out


def valid_payload(kind: str, cid: int | None, v: np.ndarray) -> bytes:
    try:
        return encode_values(kind, v, only=None if cid is None else (cid,))
    except ValueError:  # this encoding declines these values: damage the auto payload instead
        return encode_values(kind, v)


@st.composite
def damaged(draw, payload: bytes) -> bytes:
    buf = bytearray(payload)
    how = draw(st.sampled_from(["truncate", "flip", "u32", "i64", "insert", "extend"]))
    if how == "truncate":
        return bytes(buf[: draw(st.integers(0, max(0, len(buf) - 1)))])
    if how == "extend":
        return bytes(buf) + draw(st.binary(min_size=1, max_size=16))
    pos = draw(st.integers(0, max(0, len(buf) - 1)))
    if how == "flip":
        for _ in range(draw(st.integers(1, 4))):
            p = draw(st.integers(0, max(0, len(buf) - 1)))
            if buf:
                buf[p] = draw(st.integers(0, 255))
        return bytes(buf)
    if how == "insert":
        return bytes(buf[:pos]) + draw(st.binary(min_size=1, max_size=8)) + bytes(buf[pos:])
    # overwrite a size or a value field with something hostile
    if how == "u32":
        val = draw(st.sampled_from([0, 1, 2, 0xFFFFFFFF, 0x7FFFFFFF, MAX_ITEMS, MAX_ITEMS + 1]))
        field = struct.pack("<I", val)
    else:
        val = draw(st.sampled_from([0, -1, 1, I64.min, I64.max, 2**32]))
        field = struct.pack("<q", val)
    buf[pos : pos + len(field)] = field
    return bytes(buf)


@pytest.mark.parametrize("kind, cid", CASES)
@given(data=st.data())
def test_damaged_payloads(kind, cid, data):
    v = data.draw(STRATEGY[kind], label="values")
    payload = valid_payload(kind, cid, v)
    bad = data.draw(damaged(payload), label="damaged")
    count = max(0, len(v) + data.draw(st.sampled_from([0, 0, 0, -1, 1, 7]), label="count delta"))
    check_decode(kind, bad, count)


@pytest.mark.parametrize("kind, cid", CASES)
@given(data=st.data())
def test_every_strict_prefix_is_corrupt(kind, cid, data):
    v = data.draw(STRATEGY[kind], label="values")
    payload = valid_payload(kind, cid, v)
    cut = data.draw(st.integers(0, len(payload) - 1), label="cut")
    with pytest.raises(CorruptChunkError):
        decode_values(kind, payload[:cut], len(v))


@pytest.mark.parametrize("kind, cid", CASES)
@given(data=st.data())
def test_wrong_count(kind, cid, data):
    v = data.draw(STRATEGY[kind], label="values")
    payload = valid_payload(kind, cid, v)
    count = data.draw(st.one_of(st.integers(0, len(v) + 10), st.sampled_from([MAX_ITEMS, 10**9])))
    out = check_decode(kind, payload, count)
    if count == len(v):
        assert out is not None


# --------------------------------------------------------------------------- hand-made hostility


def sub(values, cid=ints.PLAIN) -> bytes:
    """A nested int payload, length-prefixed as encodings store their sub-columns."""
    p = encode_values("int", np.asarray(values, dtype=np.int64), 1, only=(cid,))
    return struct.pack("<I", len(p)) + p


def u32(v):
    return struct.pack("<I", v)


def i64(v):
    return struct.pack("<q", v)


HOSTILE = [
    # (kind, payload, count, message)
    ("int", bytes([ints.RLE]) + u32(0xFFFFFFFF), 10, "runs"),
    ("int", bytes([ints.RLE]) + u32(0), 10, "runs"),
    ("int", bytes([ints.RLE]) + u32(2) + sub([1, 2]) + sub([5, 6]), 10, "sum"),
    ("int", bytes([ints.RLE]) + u32(2) + sub([1, 2]) + sub([-5, 15]), 10, "run length"),
    ("int", bytes([ints.RLE]) + u32(2) + sub([1, 2]) + sub([0, 10]), 10, "run length"),
    ("int", bytes([ints.RLE]) + u32(3) + sub([1, 2, 3]) + sub([I64.max, I64.max, 12]), 10,
     "run length"),
    ("int", bytes([ints.RLE]) + u32(1) + sub([1]) + sub([10**9]), 10, "run length"),
    ("int", bytes([ints.RLE]) + u32(2) + sub([1, 2, 3]) + sub([5, 5]), 10, "trailing"),
    ("int", bytes([ints.RLE]) + u32(1) + sub([1]) + sub([MAX_ITEMS + 1]), MAX_ITEMS + 1, "limit"),
    ("int", bytes([ints.DICT]) + u32(0xFFFFFFFF), 10, "entries"),
    ("int", bytes([ints.DICT]) + u32(2) + sub([5, 6]) + sub([0, 1, 2]), 3, "index"),
    ("int", bytes([ints.DICT]) + u32(2) + sub([5, 6]) + sub([0, -1, 1]), 3, "index"),
    ("int", bytes([ints.DICT]) + u32(3) + sub([5, 6]) + sub([0, 1, 1]), 3, "truncated"),
    ("int", bytes([ints.DICT]) + u32(1) + sub([5]) + sub([0], ints.FOR), 10**9, "limit"),
    ("int", bytes([ints.FOR]) + i64(0) + bytes([65]), 4, "width"),
    ("int", bytes([ints.FOR]) + i64(0) + bytes([64]) + b"\0" * 31, 4, "truncated"),
    ("int", bytes([ints.FOR]) + i64(0) + bytes([0]), 10**9, "limit"),
    ("int", bytes([ints.FOR]) + i64(0) + bytes([1]) + b"\0" * 40, 10**9, "truncated"),
    ("int", bytes([ints.PLAIN]) + b"\0" * 40, 10**9, "truncated"),
    ("int", bytes([ints.NARROW, 6]) + b"\0" * 4, 4, "dtype code"),
    ("int", bytes([ints.NARROW, 0]) + b"\0" * 40, 10**9, "truncated"),
    ("int", bytes([ints.DELTA]) + i64(0) + u32(0xFFFFFFFF) + b"\0" * 8, 5, "truncated"),
    ("int", bytes([ints.DELTA]) + i64(0) + sub([1, 2, 3]), 10**9, "truncated"),
    ("int", bytes([ints.DELTA2]) + i64(0) + i64(1) + sub([1, 2]), 3, "trailing"),
    ("int", bytes([ints.DELTA]) + i64(0), 1, "truncated"),  # count 1 still has a sub-column
    ("int", bytes([ints.DELTA]) + i64(0) + sub([]) + b"x", 1, "trailing"),
    ("float", bytes([floats.DECIMAL, 0]) + sub([1])[4:], 1, "scale"),
    ("float", bytes([floats.DECIMAL, 10]) + sub([1])[4:], 1, "scale"),
    ("float", bytes([floats.XOR]) + b"\0" * 16, 10**9, "truncated"),
    ("float", bytes([floats.SHUFFLE]) + b"\0" * 16, 3, "truncated"),
    ("float", bytes([floats.INTEGRAL]), 3, "truncated"),
    ("float", bytes([floats.BITS, ints.FOR]) + i64(0) + bytes([0]), 10**9, "limit"),
    ("float", bytes([ints.PLAIN]) + b"\0" * 8, 1, "cannot hold"),  # an int encoding for floats
    ("bool", bytes([bools.RLE, 2]) + u32(1) + sub([3]), 3, "first value"),
    ("bool", bytes([bools.RLE, 0]) + u32(0xFFFFFFFF), 3, "runs"),
    ("bool", bytes([bools.RLE, 0]) + u32(2) + sub([1, 1]), 3, "sum"),
    ("bool", bytes([bools.RLE, 0]) + u32(1) + sub([3]), 10**9, "limit"),
    ("bool", bytes([bools.PACKED]) + b"\xff" * 8, 10**9, "truncated"),
    ("bool", bytes([bools.PACKED]) + b"\xff" * 2, 8, "trailing"),
]


@pytest.mark.parametrize("kind, payload, count, msg", HOSTILE)
def test_hostile_payloads(kind, payload, count, msg):
    start = time.perf_counter()
    with pytest.raises(CorruptChunkError, match=msg):
        decode_values(kind, payload, count)
    assert time.perf_counter() - start < 1.0


def test_nesting_deeper_than_max_depth():
    # delta inside delta inside delta...: every level is well formed, the depth is not
    levels = MAX_DEPTH + 3
    payload = encode_values("int", np.zeros(1, dtype=np.int64), only=(ints.PLAIN,))
    for _ in range(levels):
        payload = bytes([ints.DELTA]) + i64(0) + u32(len(payload)) + payload
    with pytest.raises(CorruptChunkError, match="deeper"):
        decode_values("int", payload, levels + 1)


def test_hostile_chunk_with_a_huge_run():
    # A well-checksummed chunk whose run lengths claim more than its count.
    payload = bytes([ints.RLE]) + u32(1) + sub([7]) + sub([10**9])
    head = HEADER.pack(MAGIC, 1, 0, 0, 100, len(payload), len(payload), zlib.crc32(payload))
    with pytest.raises(CorruptChunkError, match="run length"):
        decode_chunk(head + payload)


def test_chunk_of_max_items_constant_round_trips():
    v = np.full(MAX_ITEMS, -3, dtype=np.int64)
    chunk = encode_chunk("int", v)
    assert len(chunk) < 64
    kind, out = decode_chunk(chunk)
    assert kind == "int" and np.array_equal(out, v)


def test_writer_reader_agree_on_sub_columns():
    # sub() above mirrors how the encodings frame sub-columns: keep it honest.
    w = Writer()
    w.blob(encode_values("int", np.array([1, 2]), 1, only=(ints.PLAIN,)))
    assert w.getvalue() == sub([1, 2])
