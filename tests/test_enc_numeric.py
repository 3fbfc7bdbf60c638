"""Numeric encodings (archive.codec.ints / floats / bools): exact round trips and selection.

Fuzzed and hostile payloads are in test_enc_numeric_fuzz.py.
"""
from __future__ import annotations

import numpy as np
import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from archive.codec import bools, floats, floats_stride, int_checks, ints
from archive.codec.chunk import decode_chunk, encode_chunk
from archive.codec.registry import MAX_DEPTH, decode_values, encode_values, registered

I64 = np.iinfo(np.int64)
INT_IDS = (ints.PLAIN, ints.NARROW, ints.FOR, ints.DELTA, ints.DELTA2, ints.RLE, ints.DICT)
FLOAT_IDS = (floats.PLAIN, floats.XOR, floats.SHUFFLE, floats.INTEGRAL, floats.DECIMAL, floats.BITS,
             floats_stride.STRIDE)
BOOL_IDS = (bools.PACKED, bools.RLE)
ZSTD = zstandard.ZstdCompressor(level=3)

# --------------------------------------------------------------------------- data shapes

INT_SHAPES = ("random", "small", "offset", "constant", "timestamps", "runs", "codes", "wrap",
              "sorted", "edges")
FLOAT_SHAPES = ("random", "special", "integral", "decimal", "constant", "timestamps", "bits",
                "codes", "runs")


def make_ints(shape: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    edge = rng.choice(np.array([I64.min, I64.max, 0, -1, 1, I64.min + 1, I64.max - 1]))
    if shape == "random":
        v = rng.integers(I64.min, I64.max, n, dtype=np.int64, endpoint=True)
    elif shape == "small":
        v = rng.integers(-300, 300, n)
    elif shape == "offset":  # small spread next to an int64 limit or anywhere
        w = int(rng.integers(0, 63))
        base = edge if edge != 0 else int(rng.integers(I64.min // 2, I64.max // 2))
        span = rng.integers(0, 2**w, n, dtype=np.int64)
        v = (np.int64(base) - span) if base > 0 else (np.int64(base) + span)
    elif shape == "constant":
        v = np.full(n, edge if rng.random() < 0.5 else rng.integers(-(10**12), 10**12))
    elif shape == "timestamps":
        v = 1_600_000_000_000 + np.cumsum(rng.integers(990, 1011, n))
    elif shape == "runs":
        vals = rng.integers(-5, 5, max(1, n // 4 + 1)) * int(rng.choice([1, 10**15]))
        v = np.repeat(vals, rng.integers(1, 9, len(vals)))[:n]
    elif shape == "codes":
        codes = rng.integers(I64.min, I64.max, int(rng.integers(1, 6)), dtype=np.int64)
        v = rng.choice(codes, n)
    elif shape == "wrap":  # every delta overflows int64
        v = np.where(np.arange(n) % 2 == 0, I64.min, I64.max)
    elif shape == "sorted":
        v = np.sort(rng.integers(-(10**9), 10**9, n))
    else:  # edges
        v = rng.choice(np.array([I64.min, I64.max, 0, -1, I64.min + 1]), n)
    return np.asarray(v, dtype=np.int64)[:n]


def make_floats(shape: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 1.7976931348623157e308,
                         2.0**53, -(2.0**53), 2.0**53 + 2, 0.1, -1.5])
    payload_nans = (np.array([0x7FF0000000000001, 0xFFF8DEADBEEF0001, 0x7FFFFFFFFFFFFFFF],
                             dtype=np.uint64)).view(np.float64)
    if shape == "random":
        v = rng.normal(0, 10.0 ** rng.integers(-5, 10), n)
    elif shape == "special":
        v = rng.choice(np.concatenate([specials, payload_nans]), n)
    elif shape == "integral":
        v = rng.integers(-(2**53), 2**53, n, endpoint=True).astype(np.float64)
    elif shape == "decimal":
        k = int(rng.integers(1, 10))
        v = rng.integers(-(10**12), 10**12, n) / 10.0**k
    elif shape == "constant":
        v = np.full(n, rng.choice(np.concatenate([specials, payload_nans])))
    elif shape == "timestamps":
        v = (1_331_901_000_000_000 + np.cumsum(rng.integers(0, 10**6, n))) / 1e6
    elif shape == "bits":  # arbitrary bit patterns: NaN payloads, subnormals, everything
        v = rng.integers(0, 2**64, n, dtype=np.uint64).view(np.float64)
    elif shape == "codes":
        v = rng.choice(rng.normal(size=3), n)
    else:  # runs
        vals = rng.choice(np.concatenate([specials, [0.25, 1e300]]), max(1, n // 4 + 1))
        v = np.repeat(vals, rng.integers(1, 9, len(vals)))[:n]
    return np.asarray(v, dtype=np.float64)[:n]


def make_bools(shape: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if shape == "random":
        return rng.random(n) < rng.random()
    if shape == "sparse":
        return rng.random(n) < 0.02
    if shape == "constant":
        return np.full(n, bool(rng.integers(0, 2)))
    lengths = rng.integers(1, 30, n + 1)
    return (np.repeat(np.arange(len(lengths)) % 2, lengths)[:n] == 1) ^ bool(seed % 2)


BOOL_SHAPES = ("random", "sparse", "constant", "runs")
sizes = st.one_of(st.integers(0, 4), st.integers(0, 300))
seeds = st.integers(0, 2**32 - 1)
ints_st = st.builds(make_ints, st.sampled_from(INT_SHAPES), sizes, seeds)
floats_st = st.builds(make_floats, st.sampled_from(FLOAT_SHAPES), sizes, seeds)
bools_st = st.builds(make_bools, st.sampled_from(BOOL_SHAPES), sizes, seeds)
# Plain hypothesis element lists too, so shrinking finds minimal counter-examples.
ints_st = st.one_of(
    ints_st,
    st.lists(st.one_of(st.integers(I64.min, I64.max), st.sampled_from([I64.min, I64.max, 0])),
             max_size=40).map(lambda x: np.array(x, dtype=np.int64)),
)
floats_st = st.one_of(
    floats_st,
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=40).map(
        lambda x: np.array(x, dtype=np.float64)),
)

STRATEGY = {"int": ints_st, "float": floats_st, "bool": bools_st}


def same(kind: str, a: np.ndarray, b: np.ndarray) -> bool:
    """Exact equality: bit patterns for floats (NaN payloads, -0.0)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if kind == "float":
        return np.array_equal(a.view(np.uint64), b.view(np.uint64))
    return np.array_equal(a, b)


# --------------------------------------------------------------------------- which may decline


def may_decline(kind: str, cid: int, v: np.ndarray) -> bool:
    """Whether encoding ``cid`` is allowed to return None for ``v`` (its documented rules)."""
    const = int_checks.is_constant(v.view(np.uint64) if kind == "float" else v)
    if kind == "int":
        if cid == ints.FOR:
            return False
        if const:
            return True
        if cid == ints.NARROW:
            lo, hi = (int(v.min()), int(v.max())) if len(v) else (0, 0)
            return not (-(2**31) <= lo and hi < 2**31 or 0 <= lo and hi < 2**32)
        if cid == ints.RLE:
            return 2 * len(int_checks.run_starts(v)) > len(v) + 1
        if cid == ints.DICT:
            return len(v) > 0 and len(np.unique(v)) > max(1, len(v) // int_checks.DICT_RATIO)
        return False
    if kind == "float":
        if cid == floats.BITS:
            return False
        return const or cid in (floats.INTEGRAL, floats.DECIMAL)
    if cid == bools.PACKED:
        return const
    return len(int_checks.run_starts(v)) > 1 and bools.RLE_RATIO * len(int_checks.run_starts(v)) > len(v)


def forced_round_trip(kind: str, cid: int, v: np.ndarray) -> bytes | None:
    before = v.copy()
    try:
        payload = encode_values(kind, v, only=(cid,))
    except ValueError:
        assert may_decline(kind, cid, v), f"codec {cid} declined {v!r}"
        return None
    assert same(kind, v, before), "encode mutated its input"
    assert payload[0] == cid
    out = decode_values(kind, payload, len(v))
    assert same(kind, out, v), (cid, v, out)
    return payload


# --------------------------------------------------------------------------- registry facts


def test_registered_ids():
    assert sorted(e.codec_id for e in registered("int")) == sorted(INT_IDS)
    assert sorted(e.codec_id for e in registered("float")) == sorted(FLOAT_IDS)
    assert sorted(e.codec_id for e in registered("bool")) == sorted(BOOL_IDS)
    assert all(1 <= c <= 31 for c in INT_IDS)
    assert all(32 <= c <= 47 for c in FLOAT_IDS)
    assert all(48 <= c <= 55 for c in BOOL_IDS)


# --------------------------------------------------------------------------- forced round trips


@pytest.mark.parametrize("cid", INT_IDS)
@given(v=ints_st)
def test_int_forced_round_trip(cid, v):
    forced_round_trip("int", cid, v)


@pytest.mark.parametrize("cid", FLOAT_IDS)
@given(v=floats_st)
def test_float_forced_round_trip(cid, v):
    forced_round_trip("float", cid, v)


@pytest.mark.parametrize("cid", BOOL_IDS)
@given(v=bools_st)
def test_bool_forced_round_trip(cid, v):
    forced_round_trip("bool", cid, v)


# Every encoding must actually apply to these (so the property tests above exercise it).
MUST_APPLY = [
    ("int", ints.PLAIN, np.array([I64.min, I64.max, 0, -1])),
    ("int", ints.NARROW, np.array([-(2**31), 2**31 - 1, 0])),
    ("int", ints.NARROW, np.array([0, 2**32 - 1])),
    ("int", ints.NARROW, np.array([], dtype=np.int64)),
    ("int", ints.FOR, np.array([I64.min, I64.max])),
    ("int", ints.FOR, np.full(1000, I64.min)),
    ("int", ints.FOR, np.array([], dtype=np.int64)),
    ("int", ints.DELTA, np.array([I64.max, I64.min, I64.max, 0])),
    ("int", ints.DELTA, np.array([7])),
    ("int", ints.DELTA, np.array([], dtype=np.int64)),
    ("int", ints.DELTA2, np.array([I64.min, I64.max, I64.min, 5, 6])),
    ("int", ints.DELTA2, np.array([7])),
    ("int", ints.DELTA2, np.array([7, -7])),
    ("int", ints.DELTA2, np.array([], dtype=np.int64)),
    ("int", ints.RLE, np.array([I64.min] * 3 + [I64.max] * 2)),
    ("int", ints.RLE, np.array([], dtype=np.int64)),
    ("int", ints.DICT, np.array([I64.min, I64.max, I64.min, I64.max] * 4)),
    ("int", ints.DICT, np.tile(np.arange(3), 40)),
    ("int", ints.DICT, np.array([], dtype=np.int64)),
    ("float", floats.PLAIN, np.array([np.nan, -0.0, np.inf])),
    ("float", floats.XOR, np.array([-0.0, 0.0, np.nan, -np.inf, 1.0])),
    ("float", floats.SHUFFLE, np.array([-0.0, 0.0, np.nan, -np.inf, 1.0])),
    ("float", floats.INTEGRAL, np.array([0.0, 2.0**53, -(2.0**53), 3.0])),
    ("float", floats.INTEGRAL, np.array([], dtype=np.float64)),
    ("float", floats.DECIMAL, np.array([1331901000.123456, 1331901000.5, 0.25, -7.1])),
    ("float", floats.DECIMAL, np.array([0.000000001, 1.0])),
    ("float", floats.BITS, np.array([np.nan, -0.0, np.inf])),
    ("float", floats.BITS, np.full(100, np.uint64(0x7FF0000000000ABC).view(np.float64))),
    ("bool", bools.PACKED, np.array([True, False, True])),
    ("bool", bools.RLE, np.array([False] * 50 + [True] + [False] * 30)),
    ("bool", bools.RLE, np.ones(1000, dtype=bool)),
    ("bool", bools.RLE, np.array([], dtype=bool)),
]


@pytest.mark.parametrize("kind, cid, values", MUST_APPLY)
def test_encoding_applies(kind, cid, values):
    assert forced_round_trip(kind, cid, np.asarray(values)) is not None


@pytest.mark.parametrize(
    "cid, values",
    [
        (floats.INTEGRAL, [1.0, -0.0]),
        (floats.INTEGRAL, [1.0, 0.5]),
        (floats.INTEGRAL, [1.0, 2.0**53 + 2]),
        (floats.INTEGRAL, [1.0, np.nan]),
        (floats.INTEGRAL, [1.0, np.inf]),
        (floats.DECIMAL, [0.1, -0.0]),
        (floats.DECIMAL, [0.1, np.nan]),
        (floats.DECIMAL, [0.1, 1e-10]),
        (floats.DECIMAL, [0.1, 2.0**60]),
        (floats.DECIMAL, [np.pi]),
    ],
)
def test_float_value_encodings_decline(cid, values):
    with pytest.raises(ValueError, match="no encoding"):
        encode_values("float", np.array(values), only=(cid,))


def test_decimal_picks_smallest_scale():
    v = np.array([1331901000.123456, 1331901000.5, 0.25])
    payload = encode_values("float", v, only=(floats.DECIMAL,))
    assert payload[1] == 6
    v = np.full(3000, 0.5)
    v[1] = 1.25  # the strided sample misses it and suggests k=1: the whole column needs 2
    assert encode_values("float", v, only=(floats.DECIMAL,))[1] == 2


@pytest.mark.parametrize("width", range(65))
def test_pack_bits_every_width(width):
    rng = np.random.default_rng(width)
    for n in (0, 1, 7, 8, 9, 1001):
        u = rng.integers(0, 2**64, n, dtype=np.uint64) >> np.uint64(64 - width) if width else (
            np.zeros(n, dtype=np.uint64))
        if n and width:
            u[0] = np.uint64((1 << width) - 1)  # the widest value
        buf = ints.pack_bits(u, width)
        assert len(buf) == ints.packed_size(n, width)
        assert np.array_equal(ints.unpack_bits(buf, n, width), u)


def _pack_model(vals: list[int], width: int) -> bytes:
    """The layout of bitpack.py, value by value: byte planes, then bit planes whose padding
    bits (past the last value) are zero."""
    nb, rb = divmod(width, 8)
    out = bytearray(b"".join(bytes((v >> 8 * k) & 255 for v in vals) for k in range(nb)))
    for k in range(rb):
        plane = bytearray((len(vals) + 7) // 8)
        for i, v in enumerate(vals):
            plane[i // 8] |= ((v >> (8 * nb + k)) & 1) << (i % 8)
        out += plane
    return bytes(out)


@given(st.integers(0, 64).flatmap(lambda w: st.tuples(
    st.just(w), st.lists(st.integers(0, (1 << w) - 1), max_size=40))))
def test_pack_bits_matches_a_per_value_model(case):
    """The bit planes are packed all at once: the bytes are the layout's, padding zero."""
    width, vals = case
    assert ints.pack_bits(np.array(vals, dtype=np.uint64), width) == _pack_model(vals, width)


def test_recursive_int_encodings_stop_at_max_nest():
    v = np.arange(100, dtype=np.int64) * 3
    for cid in (ints.DELTA, ints.DELTA2, ints.RLE, ints.DICT):
        with pytest.raises(ValueError, match="no encoding"):
            encode_values("int", np.repeat(v, 4), depth=ints.MAX_NEST, only=(cid,))
    # leaf encodings still work at any legal depth, and sub-columns never nest past MAX_NEST
    payload = encode_values("int", v, depth=MAX_DEPTH)
    assert np.array_equal(decode_values("int", payload, 100, depth=MAX_DEPTH), v)


# --------------------------------------------------------------------------- auto selection


@given(v=ints_st)
def test_int_auto_round_trip(v):
    assert same("int", decode_values("int", encode_values("int", v), len(v)), v)


@given(v=floats_st)
def test_float_auto_round_trip(v):
    assert same("float", decode_values("float", encode_values("float", v), len(v)), v)


@given(v=bools_st)
def test_bool_auto_round_trip(v):
    assert same("bool", decode_values("bool", encode_values("bool", v), len(v)), v)


@pytest.mark.parametrize("kind, make, shapes", [
    ("int", make_ints, INT_SHAPES), ("float", make_floats, FLOAT_SHAPES),
    ("bool", make_bools, BOOL_SHAPES),
])
def test_chunk_round_trip_large_and_strided(kind, make, shapes):
    for i, shape in enumerate(shapes):
        v = make(shape, 20_000, i)
        k, out = decode_chunk(encode_chunk(kind, v))
        assert k == kind and same(kind, out, v), shape
        strided = v[::3]  # non-contiguous input
        assert same(kind, decode_values(kind, encode_values(kind, strided), len(strided)), strided)


def _zsize(payload: bytes) -> int:
    return len(ZSTD.compress(payload))


_rng = np.random.default_rng(7)
_N = 20_000
REALISTIC = [
    ("int", "timestamps ms with jitter", 1_600_000_000_000 + np.cumsum(_rng.integers(990, 1011, _N)),
     {ints.DELTA, ints.DELTA2}, 0.35),
    ("int", "regular timestamps", 1_600_000_000 + 60 * np.arange(_N), {ints.DELTA, ints.DELTA2}, 0.01),
    ("int", "status codes", _rng.choice(np.array([200, 201, 204, 301, 404, 500]), _N), None, 0.6),
    ("int", "codes large values", _rng.choice(_rng.integers(0, 2**62, 5), _N), {ints.DICT}, 0.6),
    ("int", "sorted ids with runs", np.repeat(np.arange(_N // 10) * 1000 + 10**12, 10),
     {ints.RLE, ints.DELTA, ints.DELTA2}, 0.1),
    ("float", "float timestamps", (1_331_901_000_000_000 + np.cumsum(_rng.integers(0, 10**6, _N))) / 1e6,
     {floats.DECIMAL}, 0.85),
    ("float", "prices", _rng.integers(1, 10**5, _N) / 100, {floats.DECIMAL}, 0.75),
    ("float", "integral floats", _rng.integers(0, 1000, _N).astype(float),
     {floats.INTEGRAL, floats.BITS}, 0.75),
    ("bool", "sparse bools", _rng.random(_N) < 0.01, {bools.RLE}, 0.95),
]


@pytest.mark.parametrize("kind, label, values, expected, ratio", REALISTIC,
                         ids=[r[1] for r in REALISTIC])
def test_selection_beats_plain(kind, label, values, expected, ratio):
    values = np.asarray(values)
    auto = encode_values(kind, values)
    plain = encode_values(kind, values, only=(registered(kind)[0].codec_id,))
    assert same(kind, decode_values(kind, auto, len(values)), values)
    if expected is not None:
        assert auto[0] in expected, f"{label}: picked codec {auto[0]}"
    assert _zsize(auto) <= ratio * _zsize(plain), (label, auto[0], _zsize(auto), _zsize(plain))


@pytest.mark.parametrize("kind, value", [
    ("int", 0), ("int", I64.min), ("int", 123456789012), ("float", 0.0), ("float", -0.0),
    ("float", np.nan), ("float", np.uint64(0xFFF0000000000123).view(np.float64)),
    ("float", 1331901000.123456), ("bool", True), ("bool", False),
])
def test_constant_columns_cost_a_few_bytes(kind, value):
    for n in (100, 1_000_000):
        v = np.full(n, value)
        payload = encode_values(kind, v)
        assert len(payload) <= 16, (kind, value, n, len(payload), payload[0])
        assert same(kind, decode_values(kind, payload, n), v.astype(v.dtype))
