"""float-stride (archive/codec/floats_stride.py): exact round trips, choice of stride and scale,
size on coordinate-like data, and damaged or hostile payloads."""
from __future__ import annotations

import struct
import tracemalloc

import numpy as np
import orjson
import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from archive.codec import floats, int_checks, ints
from archive.codec.floats_stride import (
    MAX_SCALE,
    MAX_STRIDE,
    STRIDE,
    choose,
    encode_with,
)
from archive.codec.framing import Reader
from archive.codec.registry import decode_values, encode_values, get
from archive.errors import CorruptChunkError

ZSTD = zstandard.ZstdCompressor(level=9)
SPECIAL = [0.0, -0.0, float("inf"), float("-inf"), float("nan"), 5e-324, -2.2250738585072014e-308,
           1.7976931348623157e308, 2.0**53, -(2.0**63), 1e-300]
nan_payloads = st.integers(0x7FF0000000000001, 0x7FFFFFFFFFFFFFFF).map(
    lambda b: struct.unpack("<d", struct.pack("<Q", b | (1 << 63) * (b & 1)))[0])
any_float = st.one_of(st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
                      st.sampled_from(SPECIAL), nan_payloads)


def bits(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype=np.float64).tobytes()


def interleaved(seed: int, n: int, stride: int, digits: int, ulps: int) -> np.ndarray:
    """``stride`` random walks of ``digits``-decimal values, interleaved, each ``<= ulps`` off."""
    rng = np.random.default_rng(seed)
    steps = rng.integers(-5000, 5000, size=(stride, -(-n // stride)))
    starts = rng.integers(-10**8, 10**8, size=(stride, 1))
    walks = (np.cumsum(steps, axis=1) + starts).T.reshape(-1)[:n]
    v = walks.astype(np.float64) / 10.0**digits
    noise = rng.integers(-ulps, ulps + 1, size=n) if ulps else np.zeros(n, dtype=np.int64)
    return (v.view(np.int64) + noise).view(np.float64)


def round_trip(v: np.ndarray) -> bytes:
    payload = encode_values("float", v, only=(STRIDE,))
    assert payload[0] == STRIDE
    assert bits(decode_values("float", payload, len(v))) == bits(v)
    return payload


# --------------------------------------------------------------------------- round trips


@given(st.lists(any_float, max_size=200))
def test_round_trip_any_floats(xs):
    v = np.array(xs, dtype=np.float64)
    if len(v) >= int_checks.CONSTANT_MIN and len(np.unique(v.view(np.uint64))) == 1:
        return  # long constant columns are float-bits' (the encoding declines them)
    round_trip(v)


@given(st.lists(any_float, max_size=60), st.integers(1, MAX_STRIDE), st.integers(0, MAX_SCALE))
def test_every_stride_and_scale_round_trips(xs, s, k):
    """The body is exact whatever (s, k): they only decide the size."""
    v = np.array(xs, dtype=np.float64)
    payload = bytes((STRIDE,)) + encode_with(v, s, k, 0)
    assert bits(decode_values("float", payload, len(v))) == bits(v)


@given(st.integers(0, 2**32 - 1), st.integers(0, 700), st.integers(1, 4), st.integers(0, 9),
       st.integers(0, 8))
def test_round_trip_interleaved_walks(seed, n, stride, digits, ulps):
    v = interleaved(seed, n, stride, digits, ulps)
    if n >= int_checks.CONSTANT_MIN and len(np.unique(v.view(np.uint64))) == 1:
        return
    round_trip(v)


def test_encode_rejects_bad_parameters():
    with pytest.raises(ValueError):
        encode_with(np.zeros(3), 0, 0, 0)
    with pytest.raises(ValueError):
        encode_with(np.zeros(3), 1, MAX_SCALE + 1, 0)


def test_declines_long_constants_and_deep_nesting():
    enc = get(STRIDE)
    assert enc.encode(np.full(100, 2.5), "float", 0) is None
    assert enc.encode(np.arange(100.0), "float", 8) is None


# --------------------------------------------------------------------------- choice and size


@pytest.mark.parametrize("stride", [1, 2, 3, 4])
@pytest.mark.parametrize("digits", [2, 6])
def test_choose_finds_stride_and_scale(stride, digits):
    v = interleaved(7, 6000, stride, digits, 3)
    s, k = choose(v)
    assert s == stride
    assert k == digits


def test_beats_byte_level_encodings_on_noisy_coordinates():
    v = interleaved(3, 50_000, 2, 6, 4)
    ours = len(ZSTD.compress(round_trip(v)))
    for cid in (floats.PLAIN, floats.XOR, floats.SHUFFLE):
        other = len(ZSTD.compress(encode_values("float", v, only=(cid,))))
        assert ours < 0.8 * other, (cid, ours, other)
    assert encode_values("float", v)[0] == STRIDE  # and selection picks it


def test_canada_coordinates(shared_data):
    doc = orjson.loads((shared_data / "simdjson" / "canada.json").read_bytes())
    xs = [c for f in doc["features"] for ring in f["geometry"]["coordinates"] for p in ring for c in p]
    v = np.array(xs, dtype=np.float64)
    assert choose(v) == (2, 6)
    payload = encode_values("float", v)
    assert payload[0] == STRIDE
    assert bits(decode_values("float", payload, len(v))) == bits(v)
    plain = len(ZSTD.compress(v.tobytes()))
    assert len(ZSTD.compress(payload)) < 0.8 * plain


# --------------------------------------------------------------------------- hostile payloads


def sub(values) -> bytes:
    p = encode_values("int", np.asarray(values, dtype=np.int64), 1, only=(ints.PLAIN,))
    return struct.pack("<I", len(p)) + p


@pytest.mark.parametrize("payload, count, message", [
    (bytes([STRIDE, 0, 0]) + sub([1, 2]) + sub([0, 0]), 2, "stride"),
    (bytes([STRIDE, MAX_STRIDE + 1, 0]), 2, "stride"),
    (bytes([STRIDE, 1, MAX_SCALE + 1]) + sub([1, 2]) + sub([0, 0]), 2, "scale"),
    (bytes([STRIDE, 2, 3]) + sub([1, 2]) + sub([3]) + sub([0, 0, 0, 0]), 4, "truncated"),
    (bytes([STRIDE, 1, 3]) + sub([1, 2]) + sub([0]), 2, "truncated"),
    (bytes([STRIDE, 1, 3]) + sub([1, 2]), 2, "truncated"),
    (bytes([STRIDE, 1, 3]) + sub([1, 2]) + sub([0, 0]) + b"\0", 2, "trailing"),
    (bytes([STRIDE, 1, 0]) + struct.pack("<I", 0xFFFFFFFF), 2**22, "truncated"),
])
def test_hostile(payload, count, message):
    with pytest.raises(CorruptChunkError, match=message):
        decode_values("float", payload, count)


def test_decode_allocates_only_after_sub_columns_check():
    """A huge count with a tiny body fails before any count-sized buffer exists."""
    r = Reader(bytes([4, 0]) + struct.pack("<I", 5) + b"\x01" * 5)
    tracemalloc.start()
    try:
        with pytest.raises(CorruptChunkError):
            get(STRIDE).decode(r, 2**22, "float", 0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


@given(st.data())
def test_damaged_payloads(data):
    v = interleaved(data.draw(st.integers(0, 99)), data.draw(st.integers(0, 300)), 2, 6, 3)
    payload = bytearray(encode_values("float", v, only=(STRIDE,)) if len(v) else bytes([STRIDE]))
    for _ in range(data.draw(st.integers(1, 4))):
        if payload:
            payload[data.draw(st.integers(0, len(payload) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(payload)))
    count = max(0, len(v) + data.draw(st.sampled_from([0, 0, -1, 1, 5])))
    try:
        out = decode_values("float", bytes(payload[:cut]), count)
    except CorruptChunkError:
        return
    assert len(out) == count and out.dtype == np.float64
