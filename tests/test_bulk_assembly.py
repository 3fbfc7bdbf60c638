"""Bulk assembly (many rows of a group at once) against the plain model and the one-row path.

* ``records_at`` over any row subset (unsorted, repeated, empty) gives exactly the records
  written (types, float bits, key order, absent vs null), equal to reading each row alone;
* dicts of many shapes built together keep each record's own keys and order;
* ``mixed_dicts`` equals a per-dict model and refuses value lists that run out;
* ``scatter`` places every value where asked;
* ``Archive.take`` over several groups (unsorted, repeated positions) equals the records.
"""
from __future__ import annotations

import gc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archive
from archive.codec.assemble import GroupReader
from archive.codec.dict_rows import dict_rows, mixed_dicts, scatter
from archive.codec.shred import Shredder
from archive.errors import CorruptChunkError
from tests.strategies import exact, records, shaped, trees

SLOW = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _reader(recs: list) -> GroupReader:
    sh = Shredder()
    return GroupReader.from_columns(len(recs), sh.shred(recs), sh.shapes)


def _rows(n: int) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, max(n - 1, 0)), max_size=3 * n + 2) if n else st.just([])


#: Dicts over a few keys in varying orders, values of mixed types, some keys absent.
varied = st.lists(
    st.dictionaries(st.sampled_from(["a", "b", "c", "d", "e"]),
                    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                              st.binary(max_size=3), trees(6)), max_size=5),
    max_size=40,
)


@SLOW
@given(st.one_of(records, shaped, varied), st.data())
def test_records_at_any_rows_equals_model_and_single_rows(recs, data):
    rows = data.draw(_rows(len(recs)))
    bulk = _reader(recs).records_at(np.array(rows, dtype=np.int64))
    assert exact(bulk) == exact([recs[i] for i in rows])
    one = _reader(recs)
    assert exact([one.records_at(np.array([i]))[0] for i in rows]) == exact(bulk)


@SLOW
@given(varied, st.data())
def test_many_shapes_keep_each_records_keys(recs, data):
    rows = sorted(set(data.draw(_rows(len(recs)))))
    got = _reader(recs).records_at(np.array(rows, dtype=np.int64))
    assert [list(d) for d in got] == [list(recs[i]) for i in rows]
    assert exact(got) == exact([recs[i] for i in rows])


@given(st.lists(st.lists(st.sampled_from("abcd"), unique=True), min_size=1, max_size=6),
       st.data())
def test_mixed_dicts_matches_per_dict_model(shapes_, data):
    shapes = [tuple(s) for s in shapes_]
    sids = data.draw(st.lists(st.integers(0, len(shapes) - 1), max_size=30))
    keep = data.draw(st.sets(st.sampled_from("abcd")))
    model = [{k: (k, j) for k in shapes[s] if k in keep} for j, s in enumerate(sids)]
    child = {k: [(k, j) for j, s in enumerate(sids) if k in shapes[s]] for k in keep}
    arr = np.array(sids, dtype=np.int64)
    got = mixed_dicts(shapes, arr, sorted(set(sids)), child)
    assert got == model and [list(d) for d in got] == [list(d) for d in model]
    assert len({id(d) for d in got}) == len(got)


def test_mixed_dicts_refuses_short_value_lists():
    shapes = [("a", "b"), ("a",)]
    with pytest.raises(CorruptChunkError):
        mixed_dicts(shapes, np.array([0, 1, 0]), [0, 1], {"a": [1, 2, 3], "b": [4]})


@given(st.lists(st.one_of(st.integers(), st.lists(st.integers(), max_size=2),
                          st.dictionaries(st.text(max_size=2), st.none())), max_size=30),
       st.randoms(use_true_random=False))
def test_scatter_places_values(values, rnd):
    where = list(range(len(values)))
    rnd.shuffle(where)
    out = scatter(values, np.array(where, dtype=np.int64), len(values))
    assert all(out[w] is v for w, v in zip(where, values))


@SLOW
@given(st.lists(st.one_of(shaped.filter(bool).map(lambda r: r[0]), trees(6)),
                min_size=1, max_size=60), st.data())
def test_take_across_groups_equals_records(tmp_path_factory, recs, data):
    path = tmp_path_factory.mktemp("bulk") / "a"
    with archive.open(path, "a", group_rows=8) as ar:
        ar.extend(recs[: len(recs) // 2])
        ar.commit()
        ar.extend(recs[len(recs) // 2:])  # the rest stays pending: read from the writer
        pos = data.draw(_rows(len(recs)))
        enabled = gc.isenabled()
        got = ar.take(np.array(pos, dtype=np.int64))
        assert gc.isenabled() == enabled
        assert exact(got) == exact([recs[i] for i in pos])


@given(st.lists(st.sampled_from("abcdef"), unique=True, max_size=6), st.integers(0, 20))
def test_dict_rows_matches_model(keys, n):
    cols = [[(k, j) for j in range(n)] for k in keys]
    got = dict_rows(keys, cols, n)
    assert got == [{k: (k, j) for k in keys} for j in range(n)]
    assert all(list(d) == keys for d in got) and len({id(d) for d in got}) == n
    if keys:
        with pytest.raises(CorruptChunkError):
            dict_rows(keys, [c[:-1] for c in cols] if n else [[1]] * len(keys), n)


def test_take_of_repeated_positions_returns_separate_objects(tmp_path):
    recs = [{"a": [i], "b": {"c": i}} for i in range(20)]
    with archive.open(tmp_path / "a", "a", group_rows=8) as ar:
        ar.extend(recs)
    with archive.open(tmp_path / "a") as ar:
        got = ar.take([5, 17, 5, 5, 17])
        assert got == [recs[i] for i in (5, 17, 5, 5, 17)]
        assert len({id(r) for r in got}) == 5 and len({id(r["b"]) for r in got}) == 5
        got[0]["b"]["c"] = -1
        assert got[2]["b"]["c"] == 5
