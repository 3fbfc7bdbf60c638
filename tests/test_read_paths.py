"""Read paths that skip work, each proven equal to the work they skip.

* a tag column whose one tag the chunk references tell (``reading.derived_tag``) equals the
  decoded column, on mixed records (nulls, absent keys, mixed types per path, nested lists,
  big ints) written in several groups, with deletes and puts; reading every record of such
  an archive (cold, warm, ``take``) gives the model's records;
* a cold point read decodes no tag chunk of a path whose values all have one type;
* the value-by-value read of one row (``point_read``) equals the column-wise read of the same
  row among others, projections included, and fails the same way on a short column.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archive
from archive.codec.assemble import GroupReader, projection_tree
from archive.codec.shred import ITEM, Shredder
from archive.engine import chunkio
from archive.engine.reading import column_counts, derived_tag
from archive.errors import CorruptChunkError
from tests.strategies import exact, records, shaped, trees

SLOW = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

#: Records over a few keys, each key's type varying, null or absent from record to record.
mixed = st.lists(
    st.dictionaries(st.sampled_from(["a", "b", "c"]),
                    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                              st.text(max_size=3), st.lists(st.integers(-3, 3), max_size=3),
                              trees(4)), max_size=3),
    min_size=1, max_size=40,
)


def _decoded_tags(view, g: int, col: int) -> np.ndarray:
    refs = view.refs_by_col(g)[col]
    return np.concatenate([np.asarray(chunkio.decode_ref(view, r, "int")) for r in refs])


@SLOW
@given(st.one_of(mixed, shaped.filter(bool), records.filter(bool)), st.data())
def test_derived_tags_equal_decoded_columns(tmp_path_factory, recs, data):
    path = tmp_path_factory.mktemp("tags") / "a"
    model = list(recs)
    with archive.open(path, "a", group_rows=8) as ar:
        ar.extend(recs, keys=[str(i) for i in range(len(recs))])
        for i in data.draw(st.lists(st.integers(0, len(recs) - 1), max_size=3, unique=True)):
            new = data.draw(trees(4))
            ar.put(str(i), new)
            model[i] = new
        gone = data.draw(st.lists(st.integers(0, len(recs) - 1), max_size=3, unique=True))
        for i in gone:
            ar.delete(str(i))
        model = [r for i, r in enumerate(model) if i not in set(gone)]
    with archive.open(path, cache_bytes=1) as ar:
        view = ar._view
        for g in range(len(view.group_refs)):
            counts = column_counts(view.group_refs[g])
            for col, (node, slot) in enumerate(view.columns):
                if slot != "tag" or col not in counts:
                    continue
                known = derived_tag(view, counts, node)
                if known is not None:
                    assert np.array_equal(_decoded_tags(view, g, col), np.full(known[1], known[0]))
        want = exact(model)
        assert exact([ar[i] for i in range(len(model))]) == want  # each read cold
        assert exact(ar.take(range(len(model))[::-1])) == exact(model[::-1])
    with archive.open(path) as ar:
        assert exact([ar[i] for i in range(len(model))] * 2) == exact(model * 2)  # warm too


def test_cold_point_read_decodes_no_constant_tag(tmp_path, monkeypatch):
    recs = [{"a": i, "b": f"s{i}", "n": None, "m": i if i % 3 else "x", "l": [i, 1.5]}
            for i in range(300)]
    with archive.open(tmp_path / "x", "a") as ar:
        ar.extend(recs)
    seen: list = []
    real = chunkio.decode_ref
    with archive.open(tmp_path / "x", cache_bytes=1) as ar:
        names = ar._view.columns
        monkeypatch.setattr(chunkio, "decode_ref",
                            lambda v, r, k: seen.append(names[int(r["col"])]) or real(v, r, k))
        for i in (0, 1, 299):
            seen.clear()
            ar._drop_cache()
            assert ar[i] == recs[i]
            tags = {p for p, slot in seen if slot == "tag"}
            assert tags == {("m",), ("l", ITEM)}  # the only paths of several types
            assert (("a",), "int") in seen


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mixed, shaped.filter(bool)), st.data())
def test_one_row_equals_column_wise(recs, data):
    sh = Shredder()
    cols = sh.shred(recs)
    paths = data.draw(st.lists(st.lists(st.sampled_from(["a", "b", "c", "ts", "tags", "n"]),
                                        min_size=1, max_size=2).map(tuple), max_size=3))
    proj = projection_tree(paths) if paths else None
    i = data.draw(st.integers(0, len(recs) - 1))
    other = (i + 1) % len(recs)
    for warm in (False, True):
        one = GroupReader.from_columns(len(recs), cols, sh.shapes)
        many = GroupReader.from_columns(len(recs), cols, sh.shapes)
        if warm:
            one.records_at(np.arange(len(recs)))
        got = one.records_at(np.array([i]), proj)
        want = many.records_at(np.array(sorted({i, other})), proj)[sorted({i, other}).index(i)]
        assert exact(got) == exact([want])


def test_one_row_fails_like_column_wise_on_a_short_column():
    recs = [{"a": [1, 2], "b": "x"}, {"a": [3], "b": "y"}, {"a": [4, 5, 6], "b": "z"}]
    sh = Shredder()
    cols = sh.shred(recs)
    for cid in [c for c in cols if c[1] in ("str", "int")]:
        short = dict(cols)
        short[cid] = cols[cid][:-1]
        with pytest.raises(CorruptChunkError):
            GroupReader.from_columns(3, short, sh.shapes).records_at(np.array([2]))
        with pytest.raises(CorruptChunkError):
            GroupReader.from_columns(3, short, sh.shapes).records_at(np.array([0, 2]))
