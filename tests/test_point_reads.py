"""Fast paths of point reads and bulk assembly, each proven equal to the plain path/model.

* a reader's first read of one row (counting per shape, no cached prefix sums) and its later
  reads (cached prefixes) give the records the model gives, projections included;
* records of several shapes assembled at once keep each record's keys and order;
* ``LazyColumn.item`` (one value rendered directly) equals the eager decode for every lazy
  column, templates included, whatever rows were read before;
* ``unpack_bits`` inverts ``pack_bits`` at every width;
* an archive read one record at a time decodes only the columns that record holds, and a
  damaged column still fails the reads that need it.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archive
from archive.codec.assemble import GroupReader, projection_tree
from archive.codec.bitpack import pack_bits, unpack_bits
from archive.codec.int_checks import below
from archive.codec.lazy import LazyColumn, concat
from archive.codec.registry import decode_values, decode_values_lazy, encode_values
from archive.codec.shred import ITEM, Shredder
from archive.codec.templates import TEMPLATE
from archive.errors import CorruptChunkError
from tests.strategies import exact, records, shaped
from archive.codec.time_layout import compile_layout, out_of_range, render_values
from archive.codec.time_scalar import render_one
from tests.test_lazy import TIME_LAYOUTS, TICKS, columns, payload_of
from tests.test_shred import _listify, _project

SLOW = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def _fresh(recs: list):
    sh = Shredder()
    cols = sh.shred(recs)
    return lambda: GroupReader.from_columns(len(recs), cols, sh.shapes)


# --------------------------------------------------------------------------- assembly


@SLOW
@given(st.one_of(records, shaped), st.data())
def test_point_reads_cold_and_warm_match_model(recs, data):
    if not recs:
        return
    fresh = _fresh(recs)
    want = [_listify(r) for r in recs]
    rows = data.draw(st.lists(st.integers(0, len(recs) - 1), min_size=1, max_size=12))
    warm = fresh()
    for i in rows:
        assert exact(fresh().records_at(np.array([i]))) == exact([want[i]])  # a first read
        assert exact(warm.records_at(np.array([i]))) == exact([want[i]])  # cached paths
    many = fresh().records_at(np.array(rows, dtype=np.int64))  # unsorted, repeated
    assert exact(many) == exact([want[i] for i in rows])


@SLOW
@given(shaped, st.lists(st.lists(st.sampled_from(["ts", "host", "tags", "a", "b", "n"]),
                                 min_size=1, max_size=2), max_size=3), st.data())
def test_projected_point_reads_match_model(recs, paths, data):
    if not recs:
        return
    fresh = _fresh(recs)
    proj = projection_tree(map(tuple, paths))
    i = data.draw(st.integers(0, len(recs) - 1))
    want = _project(recs[i], proj)
    want = want if isinstance(want, dict) else {}
    assert exact(fresh().records_at(np.array([i]), proj)) == exact([want])


@given(st.lists(st.sampled_from([0, 1, 2, 3]), min_size=1, max_size=80), st.data())
def test_mixed_shapes_keep_key_order(kinds, data):
    templates = [{"a": 1, "b": "x"}, {"b": "y", "c": [1, 2]}, {"c": [], "a": 2.5, "d": None}, {}]
    recs = [{k: (v, j) if k == "b" else v for k, v in templates[t].items()} for j, t in enumerate(kinds)]
    recs = [{k: list(v) if isinstance(v, tuple) else v for k, v in r.items()} for r in recs]
    rows = data.draw(st.lists(st.integers(0, len(recs) - 1), min_size=1, max_size=40))
    got = _fresh(recs)().records_at(np.array(rows, dtype=np.int64))
    assert exact(got) == exact([recs[i] for i in rows])
    assert [list(d) for d in got] == [list(recs[i]) for i in rows]


def test_point_read_checks_what_it_reads():
    sh = Shredder()
    cols = sh.shred([{"a": [1, 2, 3]}, {"a": [4]}])
    cols[(("a", ITEM), "int")] = [1, 2]  # the lists claim 4 items, the child holds 2
    with pytest.raises(CorruptChunkError, match="parent needs"):
        GroupReader.from_columns(2, cols, sh.shapes).records_at(np.array([1]))
    cols = sh.shred([{"a": 1}, {"a": 2}])
    cols[((), "shape")] = [0, -3]  # a shape id outside the table, before or after the row
    for row in (0, 1):
        with pytest.raises(CorruptChunkError, match="shape id"):
            GroupReader.from_columns(2, cols, sh.shapes).records_at(np.array([row]))
    cols = sh.shred([{"a": [1]}, {"a": [2]}])
    cols[((("a",)), "len")] = [-1, 2]
    with pytest.raises(CorruptChunkError, match="negative list length"):
        GroupReader.from_columns(2, cols, sh.shapes).records_at(np.array([1]))


# --------------------------------------------------------------------------- lazy columns


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(col=columns(), data=st.data())
def test_item_equals_eager(col, data):
    kind, cid, items = col
    payload = payload_of(kind, cid, items)
    eager = decode_values(kind, payload, len(items)).tolist()
    lazy = decode_values_lazy(kind, payload, len(items))
    if not items:
        return
    for i in data.draw(st.lists(st.integers(-len(items), len(items) - 1), max_size=12)):
        got = lazy.item(i)
        assert got == eager[i] and type(got) is type(eager[i])


log_lines = st.builds(
    lambda t, a, b, s: [f"conn {x} from 10.0.{y % 256}.{z % 256} user={w}" if k % 3 else
                        f"closed session {x:08x}" for k, (x, y, z, w) in enumerate(zip(a, b, s, t))],
    st.lists(st.sampled_from(["ann", "bob", "c-d", "é"]), min_size=16, max_size=120),
    st.lists(st.integers(0, 10**9), min_size=120, max_size=120),
    st.lists(st.integers(0, 999), min_size=120, max_size=120),
    st.lists(st.integers(0, 999), min_size=120, max_size=120),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log_lines, st.data())
def test_template_rows_equal_eager(items, data):
    try:
        payload = encode_values("str", np.array(items, dtype=object), only=(TEMPLATE,))
    except ValueError:
        return  # the lines did not template
    n = len(items)
    lazy = decode_values_lazy("str", payload, n)
    assert isinstance(lazy, LazyColumn)
    rows = data.draw(st.lists(st.integers(0, n - 1), max_size=20))
    assert [lazy.item(i) for i in rows] == [items[i] for i in rows]
    assert lazy[np.array(rows, dtype=np.int64)].tolist() == [items[i] for i in rows]
    assert lazy.materialize().tolist() == items


@given(st.lists(st.lists(st.text(max_size=4), min_size=1, max_size=6), min_size=1, max_size=4),
       st.data())
def test_concat_item(parts, data):
    cols = [decode_values_lazy("str", encode_values("str", np.array(p + [""], dtype=object)[:-1]), len(p))
            for p in parts]
    flat = [x for p in parts for x in p]
    col = concat(cols)
    for i in data.draw(st.lists(st.integers(0, len(flat) - 1), max_size=10)):
        assert col.item(i) == flat[i]


# --------------------------------------------------------------------------- bit packing


@given(st.integers(0, 64), st.integers(0, 300), st.data())
def test_unpack_bits_inverts_pack_bits(width, n, data):
    hi = (1 << width) - 1
    vals = data.draw(st.lists(st.integers(0, hi), min_size=n, max_size=n))
    u = np.array(vals, dtype=np.uint64)
    got = unpack_bits(pack_bits(u, width), n, width)
    assert got.dtype == np.uint64 and got.tolist() == vals


def test_unpack_bits_refuses_wrong_sizes():
    with pytest.raises(CorruptChunkError):
        unpack_bits(b"\x00" * 3, 10, 3)


# --------------------------------------------------------------------------- archive reads


def test_point_read_decodes_only_the_columns_it_needs(tmp_path, monkeypatch):
    from archive.engine import chunkio

    recs = [{"a": i, "b": f"s{i % 7}"} if i % 2 else {"a": i, "c": [i, i + 1]} for i in range(500)]
    with archive.open(tmp_path / "x", "a") as ar:
        ar.extend(recs)
        ar.commit()
    seen: list = []
    real = chunkio.decode_ref
    monkeypatch.setattr(chunkio, "decode_ref", lambda v, r, k: seen.append(k) or real(v, r, k))
    with archive.open(tmp_path / "x", cache_bytes=1) as ar:
        for i in (0, 1, 250, 499):
            seen.clear()
            ar._drop_cache()  # a cold read: the group is decoded again
            assert ar[i] == recs[i]
            assert "str" not in seen if i % 2 == 0 else "str" in seen
        assert ar.take([3, 0, 3]) == [recs[3], recs[0], recs[3]]


def test_damaged_column_fails_the_reads_that_need_it(tmp_path):
    recs = [{"a": i, "b": f"s{i % 7}"} if i % 2 else {"a": i} for i in range(300)]
    with archive.open(tmp_path / "x", "a", bundle_bytes=0) as ar:  # each chunk alone
        ar.extend(recs)
        ar.commit()
        view = ar._view
        ref = view.refs_by_col(0)[view.col_ids[(("b",), "str")]][0]
        fv = view.files[int(ref["file"])]
        path, off = fv.path, int(fv.segments[int(ref["seg"])][0])
    with open(path, "r+b") as f:  # one byte of the chunk's body: its checksum fails
        f.seek(off + 30)
        b = f.read(1)
        f.seek(off + 30)
        f.write(bytes([b[0] ^ 0xFF]))
    with archive.open(tmp_path / "x", cache_bytes=1) as ar:
        for i in (0, 2, 298):
            ar._drop_cache()
            assert ar[i] == recs[i]
        ar._drop_cache()
        with pytest.raises(CorruptChunkError):
            ar[1]


# --------------------------------------------------------------------------- timestamps

@given(fmt=st.sampled_from(TIME_LAYOUTS), tick=TICKS, tz=st.integers(-99 * 60 - 59, 99 * 60 + 59))
def test_render_one_matches_render_values(fmt, tick, tz):
    lay = compile_layout(fmt)
    t, z = np.array([tick], dtype=np.int64), np.array([tz], dtype=np.int64)
    if out_of_range(lay, t, z):
        return  # never rendered: the decoder refuses such a column
    assert render_one(lay, tick, tz) == render_values(lay, t, z)[0]


@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=20), st.integers(0, 2**40))
def test_below_matches_two_sided_check(vals, k):
    idx = np.array(vals, dtype=np.int64)
    assert below(idx, k) == all(0 <= v < k for v in vals)
