"""Lazy str/bytes decoding: any rows read from a lazy column equal the eager decode's, a
defective payload is refused by the lazy decode exactly when the eager one refuses it, and
archives read lazily give back what was written."""
from __future__ import annotations

import contextlib
import datetime as dt
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import archive
from archive.codec import strings as S
from archive.codec import typed_strings as T
from archive.codec.lazy import ConcatColumn, LazyColumn, concat
from archive.codec.registry import decode_values, decode_values_lazy, encode_values
from archive.codec.templates import TEMPLATE
from archive.codec.time_layout import compile_layout, out_of_range, render_layout
from archive.codec.time_scalar import out_of_range as scalar_out_of_range
from archive.errors import CorruptChunkError
from tests.strategies import damage
from tests.test_enc_strings import blobs, texts
from tests.test_enc_typed_strings import CASES, any_fraction, junk, obj

TYPED = (T.TIME, T.DECIMAL, T.HEX, T.IPV4, T.IPV6)


# --------------------------------------------------------------------------- columns


@st.composite
def columns(draw) -> tuple[str, int, list]:
    """(kind, codec id, values) that the encoding ``codec id`` applies to."""
    cid = draw(st.sampled_from((S.PLAIN, S.DICT, S.CONST) + TYPED))
    if cid in TYPED:
        good, near = CASES[cid]
        items = draw(st.lists(st.one_of(good, good, good, near, junk), min_size=1, max_size=80))
        return "str", cid, items
    kind = draw(st.sampled_from(["str", "bytes"]))
    values = texts if kind == "str" else blobs
    if cid == S.CONST:
        return kind, cid, [draw(values)] * draw(st.integers(1, 50))
    if cid == S.DICT:
        pool = draw(st.lists(values, min_size=1, max_size=8, unique=True))
        n = draw(st.integers(2 * len(pool), 2 * len(pool) + 60))
        items = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
        return kind, cid, items
    if draw(st.booleans()):  # ASCII without NUL: the one-split path of a full decode
        values = st.text(st.characters(min_codepoint=1, max_codepoint=127), max_size=12)
        values = values if kind == "str" else values.map(str.encode)
    return kind, cid, draw(st.lists(values, max_size=80))


def payload_of(kind: str, cid: int, items: list) -> bytes:
    with any_fraction(cid) if cid in TYPED else contextlib.nullcontext():
        try:
            payload = encode_values(kind, obj(items), only=(cid,))
        except ValueError:
            assume(False)
    assert payload[0] == cid
    return payload


def keys(n: int) -> st.SearchStrategy:
    """Index keys of every kind a reader uses on a column of ``n`` values."""
    if n == 0:
        return st.one_of(st.just(slice(0, 0)), st.just(np.zeros(0, dtype=np.int64)))
    rows = st.integers(-n, n - 1)
    arrays = st.lists(rows, min_size=1, max_size=2 * n + 3).map(lambda r: np.array(r, dtype=np.int64))
    return st.one_of(
        rows,
        rows.map(lambda i: np.array([i], dtype=np.int64)),
        arrays,  # unsorted, repeated, negative
        arrays.map(np.sort),
        arrays.map(lambda a: np.unique(a % n)),
        st.tuples(st.integers(0, n), st.integers(0, n), st.sampled_from([1, 1, 2, 3])).map(
            lambda t: slice(min(t[:2]), max(t[:2]), t[2])),
        st.just(slice(0, n)),
    )


def same(got: object, want: object) -> None:
    if isinstance(want, np.ndarray):
        assert isinstance(got, np.ndarray) and got.dtype == object and got.shape == want.shape
        got, want = got.tolist(), want.tolist()
        assert [type(x) for x in got] == [type(x) for x in want]
    assert got == want and type(got) is type(want)


# --------------------------------------------------------------------------- properties


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(col=columns(), data=st.data())
def test_lazy_rows_equal_eager(col, data):
    kind, cid, items = col
    payload = payload_of(kind, cid, items)
    eager = decode_values(kind, payload, len(items))
    assert eager.tolist() == items
    lazy = decode_values_lazy(kind, payload, len(items))
    assert isinstance(lazy, LazyColumn) == (cid != S.CONST)
    assert len(lazy) == len(items) and lazy.dtype == object
    for key in data.draw(st.lists(keys(len(items)), min_size=1, max_size=6)):
        same(lazy[key], eager[key])  # one column, several reads: memo and budget at work
        same(decode_values_lazy(kind, payload, len(items))[key], eager[key])
        fresh = decode_values_lazy(kind, payload, len(items))
        if isinstance(fresh, LazyColumn) and len(items):  # the partial renderer itself
            rows = np.atleast_1d(np.arange(len(items))[key]).astype(np.int64)
            same(fresh._render(rows), eager[rows])
    same(np.asarray(lazy), eager)


@given(col=columns(), parts=st.lists(st.integers(0, 80), max_size=3), data=st.data())
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_concatenated_parts(col, parts, data):
    kind, cid, items = col
    cuts = sorted({min(p, len(items)) for p in parts} | {0, len(items)})
    chunks = [items[a:b] for a, b in itertools.pairwise(cuts)] or [items]
    cols = [decode_values_lazy(kind, payload_of(kind, cid, c), len(c)) if c else obj(c)
            for c in chunks]
    whole = concat(cols)
    eager = obj(items)
    assert isinstance(whole, ConcatColumn) == (len(cols) > 1 and not all(
        isinstance(c, np.ndarray) for c in cols))
    for key in data.draw(st.lists(keys(len(items)), min_size=1, max_size=4)):
        same(whole[key], eager[key])


@st.composite
def damaged(draw) -> tuple[str, bytes, int]:
    kind, cid, items = draw(columns())
    return (kind, *damage(draw, payload_of(kind, cid, items), len(items), 100))


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(case=damaged(), data=st.data())
def test_damaged_payloads_are_refused_up_front(case, data):
    """The lazy decode refuses a payload iff the eager one does; reading never raises."""
    kind, payload, count = case
    try:
        eager = decode_values(kind, payload, count)
    except CorruptChunkError:
        eager = None
    try:
        lazy = decode_values_lazy(kind, payload, count)
    except CorruptChunkError:
        assert eager is None, "the lazy decode refused what the eager one accepts"
        return
    assert eager is not None, "the lazy decode accepted what the eager one refuses"
    if count:
        key = data.draw(keys(count))
        same(lazy[key], eager[key])
    same(np.asarray(lazy), eager)


LAYOUTS = ["%Y-%m-%dT%H:%M:%S.%6fZ", "%H:%M:%S", "%y%m%d %H:%M", "%b %e %H:%M:%S",
           "%Y-%m-%d %H:%M:%S%z", "%d/%b/%Y:%H:%M:%S %Z", "%a %b %-d %H:%M:%S %Y", "%H:%M:%S,%-3f"]
#: LAYOUTS plus layouts without a year, with padding flags, a 9-digit fraction and a literal %.
TIME_LAYOUTS = LAYOUTS + ["%Y%m%d", "%-H:%M", "%y-%-m-%d", "%a, %d %b %Y %H:%M:%S %z",
                          "%Y-%m-%dT%H:%M:%S.%9f", "%m/%-d %H%%", "%b %e"]
TICKS = st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(-(10**16), 10**16),
                  st.integers(-(10**12), 10**12), st.integers(-10**6, 10**6))


@given(fmt=st.sampled_from(TIME_LAYOUTS), ticks=st.lists(TICKS, min_size=1, max_size=20),
       tz=st.integers(-200 * 60, 200 * 60))
def test_time_range_check_from_extremes(fmt, ticks, tz):
    lay = compile_layout(fmt)
    t = np.array(ticks, dtype=np.int64)
    z = np.full(len(t), tz, dtype=np.int64)
    want = bool(render_layout(lay, t, z, unpad=True)[1].any())
    assert out_of_range(lay, t, z) == want
    assert scalar_out_of_range(lay, t, z) == want  # the bounds-based check of time_scalar


# --------------------------------------------------------------------------- examples


def test_partial_reads_then_full_decode():
    items = [f"2024-01-{d:02d}T10:00:{s:02d}.000001Z" for d in range(1, 29) for s in range(60)]
    items[5] = "not a time"
    payload = encode_values("str", obj(items), only=(T.TIME,))
    col = decode_values_lazy("str", payload, len(items))
    assert isinstance(col, LazyColumn) and col._full is None
    assert col[5] == "not a time" and col[-1] == items[-1]
    assert col[np.array([7, 5, 7])].tolist() == [items[7], items[5], items[7]]
    assert col._full is None  # a few rows: nothing else built
    assert col[10:20].tolist() == items[10:20]
    assert col[0 : len(items)].tolist() == items and col._full is not None
    with pytest.raises(IndexError):
        col[len(items)]
    with pytest.raises(IndexError):
        decode_values_lazy("str", payload, len(items))[np.array([0, len(items)])]


def test_reads_add_up_to_one_full_decode():
    items = [f"host-{i % 300}.example.org/{i}" for i in range(2000)]
    col = decode_values_lazy("str", encode_values("str", obj(items), only=(S.PLAIN,)), 2000)
    for i in range(0, 2000, 7):
        assert col[np.array([i])].tolist() == [items[i]]
    assert col._full is not None  # the partial reads' budget ran out: decoded whole


def test_template_decodes_lazily():
    items = [f"user {i} logged in from 10.0.{i % 7}.{i % 250}" for i in range(200)]
    items[::9] = [f"session {i} closed" for i in range(0, 200, 9)]
    payload = encode_values("str", obj(items), only=(TEMPLATE,))  # log lines: it applies
    out = decode_values_lazy("str", payload, len(items))
    assert isinstance(out, LazyColumn)
    assert [out.item(i) for i in (199, 0, 9, 57)] == [items[i] for i in (199, 0, 9, 57)]
    assert out[np.array([5, 3, 5, 180])].tolist() == [items[i] for i in (5, 3, 5, 180)]
    assert out.materialize().tolist() == items


def test_truncated_utf8_is_refused_up_front():
    payload = bytearray(encode_values("str", obj(["é", "x"]), only=(S.PLAIN,)))
    payload[-2] = 0xFF  # the first value's second byte: invalid UTF-8
    with pytest.raises(CorruptChunkError):
        decode_values_lazy("str", bytes(payload), 2)


def test_archive_reads_lazily(tmp_path):
    base = dt.datetime(2024, 3, 1)
    recs = [{"ts": (base + dt.timedelta(seconds=i * 37)).isoformat() + "Z",
             "ip": f"10.{i % 3}.{i % 200}.{i % 250}", "uid": f"{i * 2654435761 % 2**64:016x}",
             "name": ["a", "é", "b\0"][i % 3] * (i % 4), "blob": bytes([i % 256]) * (i % 3),
             "msg": f"id {i}", "tags": [f"t{i % 5}", "x"][: i % 3]} for i in range(700)]
    path = tmp_path / "a"
    with archive.open(path, "a", group_rows=256, chunk_items=100) as ar:
        ar.extend(recs)
    with archive.open(path, cache_bytes=1) as ar:
        for i in (0, 1, 255, 256, 399, 699, -1):
            assert ar[i] == recs[i]
        pos = np.random.default_rng(0).integers(0, 700, 300)
        assert ar.take(pos) == [recs[i] for i in pos.tolist()]
    with archive.open(path) as ar:
        assert list(ar) == recs
        assert ar.column("ip").tolist() == [r["ip"] for r in recs]
        assert ar[3] == recs[3] and ar.take([3, 2, 3]) == [recs[3], recs[2], recs[3]]
        assert ar.verify() == []
