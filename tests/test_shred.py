"""Shredding records into columns and assembling them back (no storage involved)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

from archive.codec.assemble import MISSING, GroupReader, projection_tree
from archive.codec.shred import ITEM, Shredder, Tag, path_str
from archive.errors import BadInputError, CorruptChunkError
from tests.strategies import exact, records, shaped


def _reader(recs):
    sh = Shredder()
    cols = sh.shred(recs)
    return GroupReader.from_columns(len(recs), cols, sh.shapes), cols


@given(records)
def test_round_trip_any_tree(recs):
    reader, _ = _reader(recs)
    assert exact(reader.records(0, len(recs))) == exact([_listify(r) for r in recs])


@given(shaped, st.data())
def test_any_row_subset_in_any_order(recs, data):
    reader, _ = _reader(recs)
    rows = data.draw(st.lists(st.integers(0, max(len(recs) - 1, 0)), max_size=10)) if recs else []
    got = reader.records_at(np.array(rows, dtype=np.int64))
    assert exact(got) == exact([_listify(recs[i]) for i in rows])


def _listify(v):
    if isinstance(v, (list, tuple)):
        return [_listify(x) for x in v]
    if isinstance(v, dict):
        return {k: _listify(x) for k, x in v.items()}
    return v


def _project(v, proj):
    if isinstance(v, list):
        return [x for x in (_project(e, proj) for e in v) if x is not MISSING]
    if not isinstance(v, dict):
        return MISSING
    out = {}
    for k, x in v.items():
        if k in proj:
            sub = _listify(x) if proj[k] is None else _project(x, proj[k])
            if sub is not MISSING:
                out[k] = sub
    return out


@given(shaped, st.lists(st.lists(st.sampled_from(["ts", "host", "tags", "a", "b"]), min_size=1, max_size=2), max_size=3))
def test_projection_matches_model(recs, paths):
    reader, _ = _reader(recs)
    proj = projection_tree(map(tuple, paths))
    want = [_project(r, proj) for r in recs]
    want = [w if isinstance(w, dict) else {} for w in want]
    assert exact(reader.records(0, len(recs), proj)) == exact(want)


@given(shaped, st.sampled_from([("ts",), ("host",), ("n",), ("a",), ("tags",), ("a", "b")]))
def test_path_values_match_model(recs, path):
    reader, _ = _reader(recs)
    got = reader.path_values(path, 0, len(recs))
    want = []
    for r in recs:
        v = r
        for k in path:
            v = v[k] if isinstance(v, dict) and k in v else MISSING
            if v is MISSING:
                break
        want.append(_listify(v))
    assert exact([x.item() if isinstance(x, np.generic) else x for x in got]) == exact(want)


def test_typed_vector_when_uniform():
    reader, _ = _reader([{"a": i} for i in range(10)])
    v = reader.path_values(("a",), 0, 10)
    assert v.dtype == np.int64 and v.tolist() == list(range(10))


def test_bool_is_not_int_and_key_order_kept():
    recs = [{"b": True, "a": 1}, {"a": 1.0, "b": 1}, {"a": -0.0}]
    reader, _ = _reader(recs)
    got = reader.records(0, 3)
    assert exact(got) == exact(recs)
    assert list(got[0]) == ["b", "a"]


def test_big_ints_are_lossless():
    recs = [2**64 + 1, -(2**80), 5, 2**63 - 1, -(2**63)]
    reader, cols = _reader(recs)
    assert reader.records(0, 5) == recs
    assert cols[((), "big")] == [str(2**64 + 1), str(-(2**80))]
    assert [Tag(t) for t in cols[((), "tag")]] == [Tag.BIG, Tag.BIG, Tag.INT, Tag.INT, Tag.INT]


@pytest.mark.parametrize("bad, where", [
    ({"a": {"b": object()}}, "$.a.b"),
    ([1, {2: 3}], "$[]"),
    ({"s": {1.5}}, "$.s"),
])
def test_unsupported_values_name_their_path(bad, where):
    with pytest.raises(TypeError, match=__import__("re").escape(where)):
        Shredder().shred([bad])


def test_too_deep_nesting_is_refused():
    v: list = []
    for _ in range(500):
        v = [v]
    with pytest.raises(BadInputError, match="nesting deeper"):
        Shredder().shred([v])


def test_cycle_is_refused_not_infinite():
    a: list = []
    a.append(a)
    with pytest.raises(BadInputError):
        Shredder().shred([a])


def test_path_str():
    assert path_str(("a", ITEM, "b.c")) == "$.a[]['b.c']"


def test_corrupt_columns_are_detected():
    sh = Shredder()
    cols = sh.shred([{"a": [1, 2, 3]}])
    cols[(("a", ITEM), "int")] = [1]  # parent says 3 items, child has 1
    with pytest.raises(CorruptChunkError, match="parent needs"):
        GroupReader.from_columns(1, cols, sh.shapes).records(0, 1)
    cols = sh.shred([{"a": 1}])
    cols[((), "shape")] = [7]  # no such shape
    with pytest.raises(CorruptChunkError, match="shape id"):
        GroupReader.from_columns(1, cols, sh.shapes).records(0, 1)
    cols[((), "shape")] = [0]
    cols[((), "tag")] = [42]
    with pytest.raises(CorruptChunkError, match="unknown type tag"):
        GroupReader.from_columns(1, cols, sh.shapes).records(0, 1)
