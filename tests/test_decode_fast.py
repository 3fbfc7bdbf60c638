"""Decode fast paths equal the general paths (and plain-Python models), corrupt input included.

* :class:`~archive.codec.framing.Reader`: its inlined bounds checks against a ``struct`` model
  of the same reads, over truncated buffers;
* :func:`~archive.codec.bitpack.unpack_bits`: every width against a pure-Python model of the
  byte/bit planes, and wrong sizes refused;
* :func:`~archive.codec.int_checks.check_run_lengths` and :func:`~archive.codec.strings.check_lengths`:
  their checks (Python ints for a few values, one unsigned pass for many) against the rule;
* :mod:`~archive.codec.time_layout` rendering: the per-day date table and the ``uint32``
  fields against the scalar renderer (``time_scalar.render_one``) and ``datetime``;
* template columns: a column of many templates rendered row by row (past the few templates
  scanned one at a time), in part and whole, and a column of one template, equal the lines;
* str-ipv4 and str-hex rendering (word tables, column-by-column fills) and str-plain's
  one-width path against the values.
"""
from __future__ import annotations

import datetime as dt
import struct
from ipaddress import IPv4Address

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from archive.codec.bitpack import pack_bits, packed_size, unpack_bits
from archive.codec.framing import Reader
from archive.codec.int_checks import check_run_lengths
from archive.codec.registry import decode_values, decode_values_lazy, encode_values
from archive.codec.strings import PLAIN, check_lengths
from archive.codec.template_column import TemplateColumn, TemplateLines
from archive.codec.templates import TEMPLATE
from archive.codec.time_layout import (
    _dates,
    civil_from_days,
    compile_layout,
    render_values,
)
from archive.codec.time_scalar import render_one
from archive.codec.typed_net import render_ipv4
from archive.codec.typed_strings import HEX
from archive.errors import CorruptChunkError
from tests.test_enc_typed_strings import obj

# ------------------------------------------------------------------------------- Reader

_OPS = {"u8": "<B", "u32": "<I", "u64": "<Q", "i64": "<q", "f64": "<d"}


def _model(buf: bytes, ops: list[tuple[str, int]]) -> list:
    """The values of ``ops`` read in turn from ``buf``, ending with ``"error"`` at the first
    read past the end (a blob whose length does not fit included)."""
    pos, out = 0, []
    for op, n in ops:
        if op in _OPS:
            size = struct.calcsize(_OPS[op])
            if pos + size > len(buf):
                return [*out, "error"]
            out.append(struct.unpack_from(_OPS[op], buf, pos)[0])
            pos += size
        else:
            if op == "blob":
                if pos + 4 > len(buf):
                    return [*out, "error"]
                n = struct.unpack_from("<I", buf, pos)[0]
                pos += 4
            if n > len(buf) - pos:
                return [*out, "error"]
            out.append(buf[pos : pos + n])
            pos += n
    return [*out, len(buf) - pos]


@settings(max_examples=400, deadline=None)
@given(buf=st.binary(max_size=40),
       ops=st.lists(st.tuples(st.sampled_from([*_OPS, "raw", "blob"]), st.integers(0, 12)),
                    max_size=12),
       view=st.booleans())
def test_reader_matches_struct_model(buf, ops, view):
    r = Reader(memoryview(bytearray(buf)) if view else buf)
    got: list = []
    try:
        for op, n in ops:
            v = r.raw(n) if op == "raw" else getattr(r, op)()
            got.append(bytes(v) if isinstance(v, memoryview) else v)
        got.append(r.remaining)
    except CorruptChunkError:
        got.append("error")
    want = _model(buf, ops)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g == w or (isinstance(w, float) and np.isnan(w) and np.isnan(g))


def test_reader_blob_length_past_end_is_refused():
    r = Reader(struct.pack("<I", 1 << 31) + b"abc")
    with pytest.raises(CorruptChunkError, match="truncated"):
        r.blob()


# ------------------------------------------------------------------------------- bit packing


def _unpack_model(buf: bytes, count: int, width: int) -> list[int]:
    nb, rb = divmod(width, 8)
    vals = [0] * count
    for k in range(nb):
        for i in range(count):
            vals[i] |= buf[k * count + i] << (8 * k)
    plane = (count + 7) // 8
    for k in range(rb):
        base = nb * count + k * plane
        for i in range(count):
            vals[i] |= ((buf[base + i // 8] >> (i % 8)) & 1) << (8 * nb + k)
    return vals


@settings(max_examples=300, deadline=None)
@given(width=st.integers(0, 64), count=st.integers(0, 70), data=st.data())
def test_unpack_bits_matches_model(width, count, data):
    vals = data.draw(st.lists(st.integers(0, (1 << width) - 1), min_size=count, max_size=count))
    buf = pack_bits(np.array(vals, dtype=np.uint64), width)
    assert len(buf) == packed_size(count, width)
    got = unpack_bits(buf, count, width)
    assert got.dtype == np.uint64 and got.tolist() == vals == _unpack_model(buf, count, width)
    noise = data.draw(st.binary(min_size=len(buf), max_size=len(buf)))
    assert unpack_bits(noise, count, width).tolist() == _unpack_model(noise, count, width)
    if count:
        with pytest.raises(CorruptChunkError):
            unpack_bits(buf + b"\0", count, width) if width else unpack_bits(b"\0", count, width)


# ------------------------------------------------------------------------------- run lengths


_HUGE = st.sampled_from([-(1 << 63), (1 << 63) - 1, 1 << 62, 1 << 32, -(1 << 32)])


@st.composite
def _lengths(draw, lo: int) -> tuple[list[int], int]:
    """Lengths (a few or many: both checking paths), mostly fitting a total, sometimes not."""
    n = draw(st.sampled_from([0, 1, 3, 8, 47, 48, 49, 120]))
    items = draw(st.lists(st.one_of(st.integers(lo, 3), _HUGE), min_size=n, max_size=n)
                 if draw(st.booleans()) else st.lists(st.integers(lo, 3), min_size=n, max_size=n))
    total = sum(items) + draw(st.sampled_from([0, 0, 0, 1, -1]))
    return items, max(total, 0)


@pytest.mark.parametrize("check, least", [(check_run_lengths, 1), (check_lengths, 0)],
                         ids=["run lengths", "value lengths"])
@settings(max_examples=300)
@given(case=_lengths(-2))
def test_length_checks_match_their_rule(check, least, case):
    """Run lengths are each 1..count, value lengths 0..total; both sum to exactly it."""
    lengths, total = case
    ok = all(least <= x <= total for x in lengths) and sum(lengths) == total
    a = np.array(lengths, dtype=np.int64)
    if ok:
        check(a, total)
    else:
        with pytest.raises(CorruptChunkError):
            check(a, total)


# ------------------------------------------------------------------------------- timestamps


@settings(max_examples=200, deadline=None)
@given(lo=st.integers(-800_000, 2_900_000), span=st.sampled_from([1, 2, 5, 64, 500, 10**6]),
       n=st.sampled_from([1, 63, 64, 200, 5000]), seed=st.integers(0, 2**32 - 1))
def test_date_table_matches_civil_from_days(lo, span, n, seed):
    days = lo + np.random.default_rng(seed).integers(0, span, n)
    got, want = _dates(days), civil_from_days(days)
    for g, w in zip(got, want):
        assert g.dtype == np.int64 and g.tolist() == w.tolist()


LAYOUTS = ["%Y-%m-%dT%H:%M:%S.%6fZ", "%Y-%m-%d %H:%M:%S,%3f", "%d/%b/%Y:%H:%M:%S %z",
           "%a %b %e %H:%M:%S %Y", "%b %-d %H:%M:%S", "%y%m%d %H%M%S", "%H:%M:%S.%-3f",
           "%Y-%m-%dT%H:%M:%S%Z", "%m/%d/%Y %-H:%M", "%H:%M"]


@settings(max_examples=150, deadline=None)
@given(fmt=st.sampled_from(LAYOUTS), n=st.sampled_from([1, 5, 64, 300]),
       start=st.integers(946_684_800, 4_000_000_000), spread=st.sampled_from([1, 600, 86400 * 40]),
       seed=st.integers(0, 2**32 - 1))
def test_rendered_column_equals_scalar_renderer(fmt, n, start, spread, seed):
    """Whole-column rendering (date table, uint32 fields, unpadded fields) gives what the
    scalar renderer gives value by value."""
    lay = compile_layout(fmt)
    rng = np.random.default_rng(seed)
    secs = start + np.sort(rng.integers(0, spread, n))
    if not lay.has_date:
        secs %= 86400
    ticks = secs * 10**lay.frac + rng.integers(0, 10**lay.frac, n)
    tz = rng.integers(-99 * 60, 99 * 60, n) if lay.tz else np.zeros(n, dtype=np.int64)
    got = render_values(lay, ticks, tz)
    assert got == [render_one(lay, t, z) for t, z in zip(ticks.tolist(), tz.tolist())]


@given(secs=st.lists(st.integers(0, 253_402_300_799), min_size=64, max_size=200))
def test_iso_rendering_equals_datetime(secs):
    lay = compile_layout("%Y-%m-%dT%H:%M:%S")
    ticks = np.array(sorted(secs), dtype=np.int64)
    want = [(dt.datetime(1970, 1, 1) + dt.timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%S")
            for s in ticks.tolist()]
    want = [w if len(w) == 19 else w.zfill(19) for w in want]  # strftime drops year padding
    assert render_values(lay, ticks, np.zeros(len(ticks), dtype=np.int64)) == want


# ------------------------------------------------------------------------------- templates

VERBS = ["open", "close", "read", "write", "sync", "drop", "load", "scan"]
NOUNS = ["file", "socket", "queue", "table", "index", "cache"]


@st.composite
def many_template_lines(draw) -> list[str]:
    n = draw(st.integers(40, 200))
    shapes = draw(st.lists(st.tuples(st.sampled_from(VERBS), st.sampled_from(NOUNS)),
                           min_size=n, max_size=n))
    return [f"t={1000 + 7 * i} {v} {w}" + (f" id={i * 31 % 1000} ok" if i % 5 else "")
            for i, (v, w) in enumerate(shapes)]


def _payload(lines: list[str]) -> bytes:
    try:
        return encode_values("str", obj(lines), only=(TEMPLATE,))
    except ValueError:
        assume(False)
        raise


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(lines=many_template_lines(), data=st.data())
def test_many_templates_point_partial_and_full(lines, data):
    payload = _payload(lines)
    n = len(lines)
    assert decode_values("str", payload, n).tolist() == lines
    col = decode_values_lazy("str", payload, n)
    assert isinstance(col, TemplateColumn)
    col._call_rows = n  # never give up on point reads: every template's form is built
    for i in data.draw(st.permutations(range(n))):
        assert col.item(i) == lines[i]
    rows = np.array(data.draw(st.lists(st.integers(0, n - 1), max_size=n)), dtype=np.int64)
    fresh = decode_values_lazy("str", payload, n)
    assert fresh._render(rows).tolist() == [lines[i] for i in rows.tolist()]
    assert fresh.materialize().tolist() == lines


@given(tids=st.lists(st.integers(0, 11), max_size=80), asks=st.lists(st.integers(0, 11)))
def test_template_lines_scan_then_sort(tids, asks):
    a = np.array(tids, dtype=np.int64)
    lines = TemplateLines(a, np.bincount(a, minlength=12).tolist())
    for t in asks:
        assert lines(t).tolist() == [i for i, x in enumerate(tids) if x == t]


@pytest.mark.parametrize("lines", [
    ["service heartbeat ok"] * 50,
    [f"job {i} done in {i * 7 % 13} ms" for i in range(50)],
])
def test_one_template_column(lines):
    payload = _payload(lines)
    got = decode_values("str", payload, len(lines))
    assert got.dtype == object and got.tolist() == lines


# ------------------------------------------------------------------------------- typed renderers


@given(v=st.lists(st.integers(0, 2**32 - 1), max_size=150))
def test_ipv4_rendering_equals_ipaddress(v):
    assert render_ipv4(np.array(v, dtype=np.int64)) == [str(IPv4Address(x)) for x in v]


HEX_SHAPES = [lambda x, y: f"{x:08x}-{y:04x}-4{y % 4096:03x}", lambda x, y: f"0x{x:08X}{y:04X}",
              lambda x, y: f"{x:010x}", lambda x, y: f"{x % 256:02x}:{y % 256:02x}:{x >> 8:06x}"]


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(shape=st.sampled_from(HEX_SHAPES), n=st.sampled_from([5, 63, 64, 200]),
       seed=st.integers(0, 2**32 - 1), data=st.data())
def test_hex_rendering_whole_and_rows(shape, n, seed, data):
    """str-hex renders whole columns column by column and a few rows by masks: both equal
    the values, for templates with and without literals, odd digit counts, either case."""
    rng = np.random.default_rng(seed)
    values = [shape(int(x), int(y))
              for x, y in zip(rng.integers(0, 2**32, n), rng.integers(0, 2**16, n))]
    try:
        payload = encode_values("str", obj(values), only=(HEX,))
    except ValueError:
        assume(False)
    assert decode_values("str", payload, n).tolist() == values
    rows = np.array(data.draw(st.lists(st.integers(0, n - 1), max_size=2 * n)), dtype=np.int64)
    got = decode_values_lazy("str", payload, n)[rows].tolist()
    assert got == [values[i] for i in rows.tolist()]


@settings(max_examples=200, deadline=None)
@given(width=st.integers(0, 6), n=st.integers(1, 80), kind=st.sampled_from(["str", "bytes"]),
       alphabet=st.sampled_from(["ab", "abc\x00", "aé"]), ragged=st.booleans(), data=st.data())
def test_plain_strings_one_width_or_many(width, n, kind, alphabet, ragged, data):
    """str-plain's full decode: one width (a matrix), mixed widths (a scatter), NULs and
    non-ASCII text (slices) all give the values back."""
    size = st.integers(0, 2 * width) if ragged else st.just(width)
    values = [data.draw(st.text(alphabet, min_size=k, max_size=k)) for k in
              data.draw(st.lists(size, min_size=n, max_size=n))]
    items = values if kind == "str" else [v.encode() for v in values]
    payload = encode_values(kind, obj(items), only=(PLAIN,))
    assert decode_values(kind, payload, n).tolist() == items
