"""open_many (many archives as one sequence) and group-range scans (what distributed tasks read)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archive
from archive.engine.many import column_ids, expand_paths, scan_range
from tests.strategies import exact, shaped


def _make(path, records, keys=None, **settings):
    with archive.open(path, "a", **settings) as ar:
        ar.extend(records, keys)
    return str(path)


@pytest.fixture
def days(tmp_path):
    """Three 'daily' archives (created out of name order) with overlapping keys."""
    recs = {}
    for d, n in (("day-2", 23), ("day-0", 17), ("day-1", 0)):
        recs[d] = [{"day": d, "i": i, "x": i * 1.5, "tag": "ab"[i % 2]} for i in range(n)]
        keys = [f"k{i}" for i in range(n)]
        _make(tmp_path / d, recs[d], keys, group_rows=5)
    (tmp_path / "not-an-archive").mkdir()
    order = recs["day-0"] + recs["day-1"] + recs["day-2"]
    return tmp_path, order


def test_import_archive_needs_no_arrow_or_dask():
    code = ("import sys, archive; archive.open_many; "
            "bad = [m for m in ('pyarrow', 'dask', 'pandas', 'duckdb') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_glob_order_len_and_positions(days):
    root, order = days
    with archive.open_many(str(root / "day-*")) as m:
        assert [p.rsplit("/", 1)[1] for p in m.paths] == ["day-0", "day-1", "day-2"]
        assert len(m) == len(order) == 40
        assert [m[i] for i in range(len(m))] == order
        assert m[-1] == order[-1] and m[-40] == order[0]
        for bad in (40, -41):
            with pytest.raises(IndexError):
                m[bad]
        with pytest.raises(TypeError):
            m["k1"]
        assert m[3:30:4] == order[3:30:4]
        assert m[::-1] == order[::-1]
        assert m[100:] == []
        pos = [39, 0, 17, 16, 17, -1, 5]
        assert m.take(pos) == [order[p] for p in pos]
        assert m.take(np.array([], dtype=np.int64)) == []
        with pytest.raises(IndexError):
            m.take([0, 40])
        assert list(m) == order


def test_paths_list_and_errors(days):
    root, order = days
    paths = [root / "day-2", str(root / "day-0")]
    with archive.open_many(paths) as m:
        assert len(m) == 40 and m[0]["day"] == "day-2" and m[23]["day"] == "day-0"
    with archive.open_many(root / "day-0") as m:
        assert len(m) == 17
    with pytest.raises(archive.ArchiveNotFoundError):
        archive.open_many(str(root / "nope-*"))
    with pytest.raises(archive.ArchiveNotFoundError):
        archive.open_many([])
    with pytest.raises(archive.ArchiveNotFoundError):
        archive.open_many([root / "day-0", root / "not-an-archive"])
    assert expand_paths([str(root / "day-[01]"), root / "day-2"]) == [
        str(root / "day-0"), str(root / "day-1"), str(root / "day-2")]


def test_get_first_archive_holding_key(days):
    root, _ = days
    with archive.open_many(str(root / "day-*")) as m:
        assert m.get("k3")["day"] == "day-0"
        assert m.get("k20")["day"] == "day-2"  # day-0 has only k0..k16
        assert m.get("missing") is None and m.get("missing", 7) == 7
        assert "k20" in m and "zz" not in m


def test_scan_column_chunks(days):
    root, order = days
    with archive.open_many(str(root / "day-*")) as m:
        got = list(m.scan(["i", "tag"], where='tag == "a" and i >= 3'))
        assert got == [{"i": r["i"], "tag": r["tag"]} for r in order if r["tag"] == "a" and r["i"] >= 3]
        col = m.column("x")
        assert col.dtype == np.float64 and col.tolist() == [r["x"] for r in order]
        assert m.column("day").tolist() == [r["day"] for r in order]
        c = m.chunks("i")
        per = [ar.chunks("i") for ar in m.archives if len(ar)]
        assert len(c) == sum(len(p) for p in per)
        assert [bytes(s) for s in c] == [bytes(s) for p in per for s in p]
        with pytest.raises(KeyError):
            m.chunks("nope")


def test_readonly_and_close(days):
    root, _ = days
    m = archive.open_many(str(root / "day-*"))
    assert all(ar.mode == "r" for ar in m.archives)
    assert not hasattr(m, "append") and not hasattr(m, "put")
    # a writer (another process: LMDB allows one handle per archive per process) appends meanwhile
    code = ("import archive, sys\n"
            "with archive.open(sys.argv[1], 'a') as w:\n"
            "    w.append({'day': 'day-1', 'i': 0})\n")
    subprocess.run([sys.executable, "-c", code, str(root / "day-1")], check=True)
    assert len(m) == 40
    m.refresh()
    assert len(m) == 41 and m[17] == {"day": "day-1", "i": 0}
    assert "41 records" in repr(m)
    m.close()
    m.close()
    assert "closed" in repr(m)
    with pytest.raises(ValueError):
        len(m)


def test_column_ids_cover_ancestors_and_subtree(tmp_path):
    with archive.open(tmp_path / "a", "a") as ar:
        ar.extend([{"a": {"b": [1, {"c": 2}], "d": 1}, "e": "x"}])
        ar.commit()
        names = lambda ids: {(ar._view.columns[i][0], ar._view.columns[i][1]) for i in ids}
        got = names(column_ids(ar, [("a", "b")]))
    paths = {p for p, _ in got}
    assert ((), "shape") in got and (("a",), "shape") in got
    assert all(p[:2] == ("a", "b") or p in {(), ("a",)} for p in paths)
    assert ("e",) not in paths and ("a", "d") not in paths


@settings(max_examples=25)
@given(recs=shaped, group_rows=st.integers(1, 7), cuts=st.lists(st.integers(0, 12), max_size=4),
       ops=st.lists(st.tuples(st.sampled_from(["del", "put"]), st.integers(0, 59)), max_size=6),
       commit=st.booleans(),
       query=st.sampled_from([None, "n >= 0", 'host == "x" or exists tags', "ts < 1e9"]),
       cols=st.sampled_from([None, ["n"], ["host", "tags"]]))
def test_scan_range_pieces_equal_scan(tmp_path_factory, recs, group_rows, cuts, ops, commit, query, cols):
    """Any split of the groups into ranges scans, piece by piece, exactly like scan()."""
    path = tmp_path_factory.mktemp("sr") / "a"
    with archive.open(path, "a", group_rows=group_rows) as ar:
        ar.extend(recs, [f"k{i}" for i in range(len(recs))])
        ar.commit()
        for op, i in ops:
            k = f"k{i}"
            if k not in ar:
                continue
            if op == "del":
                ar.delete(k)
            else:
                ar.put(k, {"n": -i, "host": "x", "put": True})
        if commit:
            ar.commit()
        want = list(ar.scan(cols, query))
        ngroups = len(ar._view.group_first) + (1 if ar._writer.p.rows else 0)
        bounds = sorted({0, *(min(c, ngroups) for c in cuts), ngroups})
        got = []
        for g0, g1 in zip(bounds, bounds[1:]):
            got.extend(scan_range(ar, cols, query, g0, g1 if g1 < ngroups else None))
        assert [exact(r) for r in got] == [exact(r) for r in want]
