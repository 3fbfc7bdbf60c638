"""Typed strings (timestamps, decimals, hex ids, IPv4, IPv6): byte-exact round trips whatever
parses, selection on realistic columns, and hostile payloads."""
from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import ipaddress
import json
import re
import time
import uuid

import numpy as np
import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

try:  # the int encodings the typed sub-columns use (written alongside these)
    import archive.codec.ints  # noqa: F401
except ImportError:  # pragma: no cover
    pass
from archive.codec import strings as S
from archive.codec import typed_strings as T
from archive.codec.chunk import decode_chunk, encode_chunk
from archive.codec.framing import Writer
from archive.codec.registry import DTYPES, decode_values, encode_values, get
from archive.codec.time_layout import compile_layout, parse_layout
from archive.codec.typed_time import infer_layouts
from archive.errors import CorruptChunkError
from tests.strategies import damage

TYPED = (T.TIME, T.DECIMAL, T.HEX, T.IPV4, T.IPV6)
#: This module's string encodings: selection is asserted among these (other modules may
#: register more str encodings, e.g. log templates, that would rightly compete).
OURS = (S.PLAIN, S.DICT, S.CONST) + TYPED
ZSTD = zstandard.ZstdCompressor(level=3)


def obj(items) -> np.ndarray:
    return np.fromiter(items, dtype=object, count=len(items))


@contextlib.contextmanager
def any_fraction(cid: int):
    """Let an encoding apply whatever fraction of the values it types (to force exceptions)."""
    cls = type(get(cid))
    cls.min_typed = 0.0
    try:
        yield
    finally:
        del cls.min_typed


def typed_mask(cid: int, items: list[str]) -> np.ndarray:
    """Which values the encoding stores typed (the rest would be exceptions)."""
    enc = get(cid)
    a = obj(items)
    lens = S.lengths(items)
    cand = np.array([enc.min_len <= len(s) <= enc.max_len and s.isascii() for s in items], bool)
    out = np.zeros(len(items), dtype=bool)
    if cand.any():
        with any_fraction(cid):
            parsed = enc.parse(a[cand], lens[cand])
        if parsed is not None:
            out[np.flatnonzero(cand)] = parsed[0]
    return out


def roundtrip(items: list[str], cid: int | None, only: tuple[int, ...] | None = None) -> bytes:
    """Round trip forcing ``cid`` (any fraction typed), else choosing among ``only``/all."""
    a = obj(items)
    if cid is None:
        payload = encode_values("str", a, only=only)
    else:
        with any_fraction(cid):
            payload = encode_values("str", a, only=(cid,))
        assert payload[0] == cid
    out = decode_values("str", payload, len(items))
    assert out.tolist() == items
    return payload


def zsize(payload: bytes) -> int:
    return len(ZSTD.compress(payload))


# --------------------------------------------------------------------------- strategies

junk = st.text(st.sampled_from("0123456789abcdefABCDEF.:-+ xTZ,/\x00é\ud800"), max_size=12)
decimals = st.integers(-(10**18) + 1, 10**18 - 1).map(str)
near_decimals = st.sampled_from(["01", "-0", "+1", "1e3", " 1", "1 ", "١٢٣", "0x1f", "-", "",
                                 "1234567890123456789", "9223372036854775808", "1.0", "--1"])
ipv4s = st.integers(0, 2**32 - 1).map(lambda v: str(ipaddress.IPv4Address(v)))
near_ipv4s = st.sampled_from(["01.2.3.4", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1..2.3",
                              "1.2.3.4 ", " 1.2.3.4", "1.2.3.04", "1.2.3.-4", "1.2.3.4.", "١.2.3.4"])
ipv6s = st.one_of(
    st.integers(0, 2**128 - 1),
    st.tuples(st.integers(0, 2**16 - 1), st.integers(0, 7)).map(lambda t: t[0] << (16 * t[1])),
).map(lambda v: ipaddress.IPv6Address(v).compressed)
near_ipv6s = st.sampled_from(["2001:DB8::1", "2001:db8:0:0:0:0:0:1", "::ffff:1.2.3.4", "fe80::1%eth0",
                              "1:0:0:1:0:0:0:1", "0::1", "::0:1", "1:2:3:4:5:6:7:8:9", ":::",
                              "2001:0db8::1", "::1 "])
uuids = st.builds(uuid.UUID, st.integers(0, 2**128 - 1).map(lambda v: v.to_bytes(16, "big")).map(
    lambda b: str(uuid.UUID(bytes=b))))
hexes = st.binary(min_size=8, max_size=8).map(bytes.hex)
near_hexes = st.sampled_from(["6f3A9b00deadbeef", "6f3a9b00deadbeeg", "6f3a9b00deadbee", "0x6f3a9b00deadbee",
                              "6f3a9b00-eadbeef", "6f3a9b00deadbeef0"])
times = st.datetimes(min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9999, 12, 31))
near_times = st.sampled_from([
    "2018-02-30T12:34:56.789Z", "2018-03-01T24:00:00.000Z", "2016-12-31T23:59:60.000Z",
    "2018-3-01T12:34:56.789Z", "2018-03-01T12:34:56.789", "2018-03-01t12:34:56.789Z",
    "2019-02-29T00:00:00.000Z", "2018-03-01T12:34:56.78Z", "2018-13-01T12:34:56.789Z",
    "2018-00-10T12:34:56.789Z", "2018-03-00T12:34:56.789Z", "+2018-03-01T12:34:56.789Z"])


def iso_ms(d: dt.datetime) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


CASES = {
    T.DECIMAL: (decimals, near_decimals),
    T.IPV4: (ipv4s, near_ipv4s),
    T.IPV6: (ipv6s, near_ipv6s),
    T.HEX: (hexes, near_hexes),
    T.TIME: (times.map(iso_ms), near_times),
}


@pytest.mark.parametrize("cid", list(CASES))
@given(data=st.data())
def test_typed_roundtrip_with_near_misses(cid, data):
    good, near = CASES[cid]
    bad = data.draw(st.lists(st.one_of(near, junk), max_size=15))
    typed = data.draw(st.lists(good, min_size=len(bad) + 1, max_size=len(bad) + 16))
    roundtrip(data.draw(st.permutations(bad + typed)), cid)  # typed values are the majority


def _canonical_decimal(s: str) -> bool:
    return re.fullmatch(r"-?(0|[1-9][0-9]{0,17})", s) is not None and s != "-0"


def _canonical_ipv4(s: str) -> bool:
    parts = s.split(".")
    return len(parts) == 4 and all(
        p.isascii() and p.isdigit() and str(int(p)) == p and int(p) <= 255 for p in parts)


def _canonical_ipv6(s: str) -> bool:
    try:  # a scope ("%eth0") is not stored typed
        return s.isascii() and "%" not in s and ipaddress.IPv6Address(s).compressed == s
    except ValueError:
        return False


@pytest.mark.parametrize("cid, canonical", [(T.DECIMAL, _canonical_decimal), (T.IPV4, _canonical_ipv4),
                                            (T.IPV6, _canonical_ipv6)])
@given(data=st.data())
def test_typed_exactly_when_canonical(cid, canonical, data):
    good, near = CASES[cid]
    items = data.draw(st.lists(st.one_of(good, near, junk), min_size=1, max_size=30))
    assert typed_mask(cid, items).tolist() == [canonical(s) for s in items]


@given(st.lists(st.one_of(times, st.datetimes()), min_size=1, max_size=20),
       st.sampled_from(["%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%d %H:%M:%S", "%a %b %d %H:%M:%S %Y",
                        "%d/%b/%Y:%H:%M:%S", "%y%m%d %H%M%S", "%m-%d %H:%M:%S.%f"]))
def test_time_typed_exactly_when_strftime_canonical(ds, fmt):
    items = [d.strftime(fmt) for d in ds if d.year >= 1000]
    items += [s.replace("1", "7", 1) for s in items]  # a digit changed: valid or not, exact either way
    lay = compile_layout(fmt.replace("%f", "%6f"))
    for s in items:
        ok = parse_layout(lay, T.ascii_matrix([s], lay.width, np.array([len(s)])))[0][0]
        f2, s2 = (fmt, s) if "%Y" in fmt or "%y" in fmt else ("%Y " + fmt, "2000 " + s)  # leap year
        try:
            ref = dt.datetime.strptime(s2, f2).strftime(f2) == s2
        except ValueError:
            ref = False
        assert ok == ref, (s, fmt)
    if items:
        roundtrip(items, T.TIME)


@given(st.lists(st.tuples(times, st.integers(-23 * 60 - 59, 23 * 60 + 59)), min_size=1, max_size=20))
def test_time_with_offsets(pairs):
    items = [d.replace(tzinfo=dt.timezone(dt.timedelta(minutes=m))).isoformat(timespec="seconds")
             for d, m in pairs]
    items += ["2018-03-01T12:34:56-00:00", "2018-03-01T12:34:56+00:60"]  # not canonical
    assert typed_mask(T.TIME, items).tolist() == [True] * len(pairs) + [False, False]
    roundtrip(items, T.TIME)


@given(st.lists(times, max_size=30), st.lists(st.sampled_from(
    ["Nov 09 12:01:01", "Nov  9 12:01:01", "Nov 9 2:01:01", "Nov 32 12:01:01", "Nov 0 12:01:01",
     "Feb 30 12:01:01", "Nov 9 12:01:60", "nov 9 12:01:01"]), max_size=5))
def test_unpadded_day(ds, near):
    ds += [dt.datetime(2018, 11, 9), dt.datetime(2018, 11, 19)] * (len(near) + 1)
    good = [f"{d:%b} {d.day} {d:%H:%M:%S}" for d in ds]
    items = good + near
    assert typed_mask(T.TIME, items).tolist() == [True] * len(good) + [False] * len(near)
    roundtrip(items, T.TIME)


@given(st.lists(st.tuples(times, st.integers(0, 999)), min_size=1, max_size=30))
def test_unpadded_milliseconds(pairs):
    pairs += [(dt.datetime(2018, 1, 1), 7), (dt.datetime(2018, 1, 1), 42)]  # 1 and 2 digits
    items = [f"{d:%Y%m%d-%H:%M:%S}:{ms}" for d, ms in pairs] + ["20180101-00:00:00:007"]
    assert typed_mask(T.TIME, items).tolist() == [True] * len(pairs) + [False]
    p = roundtrip(items, T.TIME)
    assert b"%-3f" in p


@pytest.mark.parametrize("s, layout", [
    ("Nov 9 12:01:01", "%b %-d %H:%M:%S"),
    ("2018-03-01T12:34:56.789Z", "%Y-%m-%dT%H:%M:%S.%3fZ"),
    ("2018-03-01 12:34:56,789", "%Y-%m-%d %H:%M:%S,%3f"),
    ("2018-03-01T12:34:56+01:00", "%Y-%m-%dT%H:%M:%S%Z"),
    ("12:34:56", "%H:%M:%S"),
    ("081109 203615", "%y%m%d %H%M%S"),
    ("2005-06-03-15.42.50.675872", "%Y-%m-%d-%H.%M.%S.%6f"),
    ("Sun Dec 04 04:47:44 2005", "%a %b %d %H:%M:%S %Y"),
    ("Jul  1 09:00:55", "%b %e %H:%M:%S"),
    ("20171223-22:15:29:606", "%Y%m%d-%H:%M:%S:%3f"),
    ("[10.30 16:49:06]", "[%m.%d %H:%M:%S]"),
    ("10/Oct/2000:13:55:36 -0700", "%d/%b/%Y:%H:%M:%S %z"),
])
def test_layout_inference(s, layout):
    assert layout in infer_layouts(re.sub(r"\d", "0", s))
    roundtrip([s] * 3, T.TIME)


# --------------------------------------------------------------------------- realistic columns


def _compare(items: list[str], expect: int) -> None:
    auto = roundtrip(items, None, OURS)
    assert auto[0] == expect
    plain = encode_values("str", obj(items), only=(S.PLAIN,))
    assert zsize(auto) < zsize(plain)


def test_selection_picks_typed_encodings():
    rng = np.random.default_rng(7)
    n = 5000
    t0 = dt.datetime(2018, 3, 24, 17, 15, 20)
    steps = np.cumsum(rng.integers(0, 5000, n)).tolist()
    _compare([iso_ms(t0 + dt.timedelta(microseconds=1000 * s)) for s in steps], T.TIME)
    _compare([str(ipaddress.IPv4Address(int(v))) for v in rng.integers(0, 2**32, n)], T.IPV4)
    _compare([str(uuid.UUID(bytes=rng.bytes(16))) for _ in range(n)], T.HEX)
    _compare([rng.bytes(12).hex().upper() for _ in range(n)], T.HEX)
    _compare([ipaddress.IPv6Address(rng.bytes(16)).compressed for _ in range(n)], T.IPV6)
    _compare([str(1331901000 + s) for s in steps], T.DECIMAL)


def test_exceptions_are_kept_in_place():
    items = [f"10.0.{i % 256}.{i // 256}" for i in range(3000)]
    items[5], items[77], items[-1] = "localhost", "010.0.0.1", ""
    roundtrip(items, None)
    assert roundtrip(items, None, OURS)[0] == T.IPV4


def test_timestamps_of_two_layouts():
    a = [f"2018-03-01T12:{m:02d}:{s:02d}Z" for m in range(60) for s in range(60)]
    b = [f"Mar  1 12:{m:02d}:{s:02d}" for m in range(30) for s in range(60)]
    roundtrip(a + b, None)
    assert roundtrip(a + b, None, OURS)[0] == T.TIME


def test_declines_when_too_few_parse():
    items = obj(["1.2.3.4", "x", "y", "z"])
    for cid in TYPED:
        assert get(cid).encode(items, "str", 0) is None or cid == T.HEX
    assert get(T.IPV4).encode(obj(["1.2.3.4"] * 4), "str", S.STR_MAX_NEST) is None


# --------------------------------------------------------------------------- hostile payloads


def check_decode(payload: bytes, count: int) -> None:
    start = time.perf_counter()
    try:
        out = decode_values("str", payload, count)
    except CorruptChunkError:
        return
    finally:
        assert time.perf_counter() - start < 2.0
    assert len(out) == count and out.dtype == DTYPES["str"]


@st.composite
def damaged(draw):
    cid = draw(st.sampled_from(TYPED))
    good, near = CASES[cid]
    items = draw(st.lists(st.one_of(good, good, good, near), max_size=20)) + [draw(good)]
    with any_fraction(cid):
        payload = encode_values("str", obj(items), only=(cid,))
    return damage(draw, payload, len(items), 60)


@given(damaged())
def test_damaged_payloads_decode_or_raise_corrupt(case):
    check_decode(*case)


def _typed(cid: int, exc: tuple[list[int], list[str]] | None, body: bytes) -> bytes:
    w = Writer()
    w.u32(0 if exc is None else len(exc[0]))
    if exc is not None:
        w.blob(encode_values("int", np.array(exc[0], dtype=np.int64)))
        w.blob(encode_values("str", obj(exc[1]), only=(S.PLAIN,)))
    return bytes((cid,)) + w.getvalue() + body


def _ints(values) -> bytes:
    w = Writer()
    w.blob(encode_values("int", np.array(values, dtype=np.int64)))
    return w.getvalue()


@pytest.mark.parametrize("payload, count, msg", [
    (_typed(T.IPV4, None, _ints([1, 2**32])), 2, "IPv4"),
    (_typed(T.IPV4, None, _ints([1, -1])), 2, "IPv4"),
    (_typed(T.IPV4, ([1, 1], ["a", "b"]), _ints([1])), 3, "increasing"),
    (_typed(T.IPV4, ([0, 3], ["a", "b"]), _ints([1])), 3, "increasing"),
    (_typed(T.IPV4, ([0], ["a"]), _ints([1])), 3, "truncated"),
    (bytes((T.IPV4,)) + b"\x05\0\0\0", 3, "exceptions"),
    (_typed(T.IPV6, None, b"\x10\0\0\0" + bytes(16)), 2, "bytes for 2"),
    (_typed(T.HEX, None, b"\x02\x04\0\0\0\0" + b"\x02\0\0\0" + b"\0\0"), 1, "flags"),
    (_typed(T.HEX, None, b"\x00\x04\0\0\0\0" + b"\x03\0\0\0" + b"\0\0\0"), 1, "bytes for 1"),
    (_typed(T.HEX, None, b"\x00\x05\0\0\0\0\n" + b"\x02\0\0\0" + b"\0\0"), 1, "printable"),
    (_typed(T.TIME, None, b"\x03%Q%" + _ints([0])), 1, "layout"),
    (_typed(T.TIME, None, b"\x06%Y%Y%m" + _ints([0])), 1, "layout"),
    (_typed(T.TIME, None, b"\x02%Y" + _ints([2**62])), 1, "range"),
    (_typed(T.TIME, None, b"\x08%H:%M:%S" + _ints([86400])), 1, "range"),
    (_typed(T.TIME, None, b"\x02%z" + _ints([0]) + _ints([6000])), 1, "range"),
    (_typed(T.TIME, None, b"\x03\xff%Y" + _ints([0])), 1, "ascii|layout"),
    (_typed(T.TIME, None, b"\x40%Y-%m-%dT%H:%M:%S.%9f%Z %a" + b"x" * 38 + _ints([0]) + _ints([0])), 1, "wider"),
    (_typed(T.HEX, None, b"\x00\x81" + bytes(129) + b"\x41\0\0\0" + bytes(65)), 1, "width"),
])
def test_hostile_typed_payloads(payload, count, msg):
    with pytest.raises(CorruptChunkError, match=msg):
        decode_values("str", payload, count)


def test_layout_language():
    lay = compile_layout("%a %b %e %H:%M:%S.%9f %Z %%")
    assert lay.width == len("Sun Dec  4 04:47:44.123456789 +01:00 %")
    assert compile_layout("%b %-d %H").width == 9 and compile_layout("%b %-d %H", 1).width == 8
    assert [f.width for f in compile_layout("%S.%-3f").forms()] == [4, 5, 6]
    for bad in ("", "%", "%q", "%0f", "%Y%y", "%d%e", "%z%Z", "%H%H", "é", "\x01", "%-Y", "%-e",
                "%-d %-m", "%-%"):
        with pytest.raises(ValueError):
            compile_layout(bad)


# --------------------------------------------------------------------------- real data

_LOGHUB = {  # file: how to cut the timestamp out of a line
    "Android": lambda x: x[:18], "Apache": lambda x: x[1:25], "BGL": lambda x: x.split()[4],
    "HDFS": lambda x: x[:13], "Hadoop": lambda x: x[:23], "HealthApp": lambda x: x.split("|")[0],
    "Linux": lambda x: x[:15], "Mac": lambda x: x[:15], "OpenSSH": lambda x: x[:15],
    "OpenStack": lambda x: " ".join(x.split()[1:3]), "Proxifier": lambda x: x[:16],
    "Spark": lambda x: x[:17], "Windows": lambda x: x[:19], "Zookeeper": lambda x: x[:23],
    "Thunderbird": lambda x: " ".join(x.split()[4:7]),
}


def test_loghub_timestamps(shared_data):
    for name, cut in _LOGHUB.items():
        lines = (shared_data / "loghub" / f"{name}_2k.log").read_text("utf-8", "surrogateescape")
        items = [cut(x) for x in lines.splitlines() if x.strip()]
        _, out = decode_chunk(encode_chunk("str", obj(items)))
        assert out.tolist() == items, name
        assert encode_values("str", obj(items), only=OURS)[0] == T.TIME, name


def test_zeek_typed_columns(shared_data):
    with gzip.open(shared_data / "zeek" / "dns.json.gz", "rt") as f:
        rows = [json.loads(line) for _, line in zip(range(10000), f)]
    ts = [r["ts"] for r in rows]
    roundtrip(ts, None)
    assert roundtrip(ts, None, OURS)[0] == T.TIME
    answers = [a for r in rows for a in r.get("answers", [])]
    roundtrip(answers, None)
    ips = [r["id.orig_h"] for r in rows] + [r["id.resp_h"] for r in rows]
    roundtrip(sorted(set(ips)), None)
    assert roundtrip(sorted(set(ips)), T.IPV4)
