"""Row-selective rendering of template columns (template_column.py): the lines rendered for
any rows (unsorted, repeated, one template or many, lines with and without placeholders,
``str`` and ``bytes``, typed variables) equal the eager decode's lines at those rows; point
reads leave the variable columns unconverted; damage is found when the column is made."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from archive.codec.lazy import LazyColumn
from archive.codec.registry import decode_values, decode_values_lazy, encode_values
from archive.codec.template_column import TemplateColumn
from archive.codec.templates import TEMPLATE
from archive.errors import CorruptChunkError
from tests.test_enc_templates import log_lines
from tests.test_enc_typed_strings import obj

#: Line shapes of a small log: placeholders of several types, a literal ``%``, a fixed line.
SHAPES = (
    lambda i, w: f"user {w} logged in from 10.0.{i % 7}.{i % 250} port {1000 + i}",
    lambda i, w: f"session {i} closed after {i * 3 % 97} ms (100% done)",
    lambda i, w: f"GET /api/v{i % 3}/{w}?id={i:x} status=200",
    lambda i, w: "service heartbeat ok",
)
WORDS = st.sampled_from(["alice", "bob", "carol", "dave", "eve", "m%allory", "x"])


@st.composite
def log_columns(draw) -> tuple[str, list]:
    n = draw(st.integers(20, 160))
    shapes = draw(st.lists(st.integers(0, len(SHAPES) - 1), min_size=n, max_size=n))
    words = draw(st.lists(WORDS, min_size=n, max_size=n))
    lines = [SHAPES[s](i, w) for i, (s, w) in enumerate(zip(shapes, words))]
    kind = draw(st.sampled_from(["str", "bytes"]))
    return kind, lines if kind == "str" else [x.encode() for x in lines]


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(col=log_columns(), data=st.data())
def test_rendered_rows_equal_eager(col, data):
    kind, items = col
    try:
        payload = encode_values(kind, obj(items), only=(TEMPLATE,))
    except ValueError:
        assume(False)
    eager = decode_values(kind, payload, len(items))
    assert eager.tolist() == items
    n = len(items)
    for _ in range(3):
        rows = np.array(data.draw(st.lists(st.integers(0, n - 1), max_size=2 * n)), dtype=np.int64)
        lazy = decode_values_lazy(kind, payload, n)
        assert isinstance(lazy, TemplateColumn)
        got = lazy._render(rows)  # the partial renderer itself, unsorted and repeated rows
        assert got.dtype == object and got.shape == (len(rows),)
        assert got.tolist() == [items[i] for i in rows.tolist()]
        assert [type(x) for x in got.tolist()] == [type(items[0])] * len(rows)
        if len(rows):
            assert lazy[rows].tolist() == [items[i] for i in rows.tolist()]
    assert decode_values_lazy(kind, payload, n).materialize().tolist() == items


# ------------------------------------------------------------- lazy variable columns


def _template_payload(kind: str, lines: list) -> bytes:
    items = lines if kind == "str" else [x.encode() for x in lines]
    try:
        return encode_values(kind, obj(items), only=(TEMPLATE,))
    except ValueError:
        assume(False)
        raise


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(lines=log_lines(), kind=st.sampled_from(["str", "bytes"]), data=st.data())
def test_lazy_rows_equal_full_decode_typed(lines, kind, data):
    """Typed variables (ints, widths, signs, hex, IPs, times, free text): any row subset
    (unsorted, repeated, empty) and any single row of a fresh lazy column equal the eager
    decode, and a column read partly then whole still decodes whole."""
    assume(len(lines) >= 8)
    payload = _template_payload(kind, lines)
    n = len(lines)
    full = decode_values(kind, payload, n).tolist()
    assert full == (lines if kind == "str" else [x.encode() for x in lines])
    rows = np.array(data.draw(st.lists(st.integers(-n, n - 1), max_size=3 * n)), dtype=np.int64)
    lazy = decode_values_lazy(kind, payload, n)
    assert lazy[rows].tolist() == [full[i] for i in rows.tolist()]
    i = data.draw(st.integers(0, n - 1))
    one = decode_values_lazy(kind, payload, n)
    assert one.item(i) == full[i] and one[i] == full[i]
    assert lazy.materialize().tolist() == full


def _name(i: int) -> str:
    return "".join(chr(97 + i // m % 26) for m in (1, 26, 3))


def _interleaved_lines(n: int) -> list[str]:
    """Two templates sharing a timestamp header (one column in line order, its members
    interleaved) with free-text and hex bodies."""
    return [f"2024-05-{i % 28 + 1:02d} 10:{i % 60:02d}:00 host{i % 3} "
            + (f"user {_name(i)} logged in" if i % 2 else f"job 0x{i * 977:x} done")
            for i in range(n)]


def test_point_read_converts_only_its_values():
    """A point read formats one line from the still-lazy variable columns: no text
    sub-column is materialised, and later reads agree with the eager decode."""
    lines = _interleaved_lines(400)
    payload = encode_values("str", obj(lines), only=(TEMPLATE,))
    col = decode_values_lazy("str", payload, len(lines))
    assert isinstance(col, TemplateColumn)
    text = [c for cols in col._columns for c in cols if isinstance(c, LazyColumn)]
    assert text, "the free-text slots should stay lazy columns"
    for i in (0, 1, 399, 200):
        assert col.item(i) == lines[i]
    assert all(c._full is None for c in text)
    assert col[np.array([5, 3, 5, 398])].tolist() == [lines[5], lines[3], lines[5], lines[398]]
    assert col.materialize().tolist() == lines


def test_every_truncation_is_corrupt_before_any_read():
    """Damage anywhere is found when the column is made, not when a row is read."""
    lines = _interleaved_lines(64)
    payload = encode_values("str", obj(lines), only=(TEMPLATE,))
    for cut in range(1, len(payload)):
        with pytest.raises(CorruptChunkError):
            decode_values_lazy("str", payload[:cut], len(lines))
