"""column() and scan(columns, where) against a plain-Python model of the archive's records.

Records come in batches whose paths are either of one scalar type in every record (so groups
are *uniform* and read straight from their value column, archive.engine.columns) or mixed
(missing, null, other types, containers), over many small groups with several chunks per
column; deletes and puts leave dead rows and redirected rows behind, and some records stay in
the writer (flushed-but-uncommitted groups and the pending group).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archive
from archive.engine.columns import uniform_columns
from archive.query import MISSING, lookup, parse
from tests.strategies import exact

SMALL = {"group_rows": 5, "chunk_items": 3, "segment_bytes": 4096}

_TYPED = {
    "int": st.integers(-(2**63), 2**63 - 1),
    "float": st.floats(allow_nan=True, allow_infinity=True),
    "bool": st.booleans(),
    "str": st.text(alphabet="abxy", max_size=3),
    "bytes": st.binary(max_size=3),
}
_ANY = st.one_of(*_TYPED.values(), st.none(), st.integers(), st.lists(st.integers(0, 3), max_size=2),
                 st.dictionaries(st.sampled_from(["x", "y"]), st.integers(0, 3), max_size=2))
_MODES = st.sampled_from(list(_TYPED) + ["mixed"])


@st.composite
def batch(draw: st.DrawFn) -> list:
    """Records sharing per-path modes: one scalar type throughout, or anything (maybe absent)."""
    mode_a, mode_x = draw(_MODES), draw(_MODES)
    out = []
    for _ in range(draw(st.integers(1, 12))):
        if draw(st.integers(0, 30)) == 0:
            out.append(draw(_ANY))  # not even a dict
            continue
        rec: dict = {}
        for key, mode in (("a", mode_a), ("n", mode_x)):
            strat = _ANY if mode == "mixed" else _TYPED[mode]
            if mode == "mixed" and draw(st.booleans()):
                continue  # absent
            v = draw(strat)
            rec[key] = v if key == "a" else {"x": v}
        if draw(st.booleans()):
            rec["b"] = draw(st.text(alphabet="ab", max_size=2))
        out.append(rec)
    return out


ops = st.lists(st.one_of(
    st.tuples(st.just("extend"), batch()),
    st.tuples(st.just("delete"), st.integers(0, 200)),
    st.tuples(st.just("put"), st.integers(0, 200), batch()),
    st.tuples(st.just("commit")),
), min_size=1, max_size=8)

WHERES = ["a >= 0", "a == 'x'", "exists a", "a != 3", "a < 2.5", "a in [1, 'x', true, null, b'a']",
          "n.x == true", "n.x > -1 and b startswith 'a'", "not a == 'ab' or exists n.x",
          "a == null", "a contains 'a'", "n.x matches '^a'"]
COLUMNS = [None, ["a"], ["b", "n"], ["n", "zz"]]


def apply(ar: archive.Archive, ops_: list, model: list) -> None:
    """Run the operations on the archive and on ``model`` ([key, record] in position order)."""
    serial = 0
    for op in ops_:
        if op[0] == "extend":
            keys = [f"k{serial + i}" for i in range(len(op[1]))]
            serial += len(keys)
            ar.extend(op[1], keys=keys)
            model.extend([k, r] for k, r in zip(keys, op[1]))
        elif op[0] == "delete" and model:
            key = model.pop(op[1] % len(model))[0]
            ar.delete(key)
        elif op[0] == "put" and model:
            entry = model[op[1] % len(model)]
            entry[1] = op[2][0]
            ar.put(entry[0], entry[1])
        elif op[0] == "commit":
            ar.commit()


def expected_column(recs: list, path: tuple) -> tuple[list, np.dtype]:
    vals = [lookup(r, path) for r in recs]
    vals = [None if v is MISSING else v for v in vals]
    types = {type(v) for v in vals}
    dtype = np.dtype(object)
    if len(types) == 1 and recs:
        t = types.pop()
        if t is bool:
            dtype = np.dtype(np.bool_)
        elif t is float:
            dtype = np.dtype(np.float64)
        elif t is int and all(-(2**63) <= v < 2**63 for v in vals):
            dtype = np.dtype(np.int64)
    return vals, dtype


def project(rec: object, cols: list[str] | None) -> object:
    if cols is None:
        return rec
    return {k: v for k, v in rec.items() if k in cols} if isinstance(rec, dict) else {}


def check(ar: archive.Archive, model: list) -> None:
    recs = [r for _, r in model]
    assert exact(list(ar)) == exact(recs)  # the model itself is right
    for path in (("a",), ("n", "x"), ("b",), ("zz",)):
        want, dtype = expected_column(recs, path)
        got = ar.column(path)
        assert got.dtype == dtype, path
        assert exact(got.tolist()) == exact(want), path
    for where in WHERES:
        expr = parse(where)
        for cols in COLUMNS:
            want = [project(r, cols) for r in recs if expr.matches(r)]
            assert exact(list(ar.scan(cols, where))) == exact(want), (where, cols)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_column_and_scan_match_the_model(ops_):
    with tempfile.TemporaryDirectory() as d:
        model: list = []
        with archive.open(Path(d) / "ar", "a", **SMALL) as ar:
            apply(ar, ops_, model)
            check(ar, model)  # the writer's view: pending and uncommitted groups included
        with archive.open(Path(d) / "ar") as ar:
            check(ar, model)  # a reader of the committed archive, one group cache
        with archive.open(Path(d) / "ar", cache_bytes=1) as ar:
            check(ar, model)  # no group stays cached


def test_uniform_groups_are_read_from_the_value_column(tmp_path):
    """Which groups count as uniform, and that reading them needs no tag or shape chunk."""
    recs = ([{"a": i, "s": f"v{i}"} for i in range(10)]       # groups 0, 1: uniform int / str
            + [{"a": 1.5}, {"a": None}, {}, {"a": 2}, {"a": 3}]  # group 2: float, null, absent
            + [{"a": i} for i in range(5)])                     # group 3: uniform again
    with archive.open(tmp_path / "ar", "a", **SMALL) as ar:
        ar.extend(recs)
    with archive.open(tmp_path / "ar") as ar:
        view = ar._view
        cid = view.col_ids[(("a",), "int")]
        assert uniform_columns(view, ("a",)).tolist() == [cid, cid, -1, cid]
        assert uniform_columns(view, ("s",)).tolist()[:2] == [view.col_ids[(("s",), "str")]] * 2
        assert uniform_columns(view, ("nope",)).tolist() == [-1] * 4
        # Only the value column's chunks are read: a broken root tag chunk goes unnoticed.
        seen = []
        real = view.chunk
        view.chunk = lambda ref: seen.append(int(ref["col"])) or real(ref)
        assert ar.column("s")[:10].tolist() == [f"v{i}" for i in range(10)]
        assert view.col_ids[(("s",), "str")] in seen
        assert view.col_ids[((), "tag")] not in seen
        assert ar.column("a").tolist() == [r.get("a") for r in recs]


def test_uniform_values_with_a_wrong_count_are_corrupt(tmp_path):
    """A uniform group whose chunks do not number its rows raises, never misaligns rows."""
    from archive.engine.columns import decode_uniform
    from archive.errors import CorruptChunkError
    with archive.open(tmp_path / "ar", "a", **SMALL) as ar:
        ar.extend([{"a": i} for i in range(10)])
    with archive.open(tmp_path / "ar") as ar:
        view = ar._view
        cols = uniform_columns(view, ("a",))
        view.group_rows = view.group_rows + 1  # the index now claims one row more per group
        with pytest.raises(CorruptChunkError):
            decode_uniform(view, cols, [0], 1)


def test_prepared_uniform_columns_evaluate_like_plain_ones():
    """evaluate() takes a prepared all-str column and answers as for the plain object array."""
    from archive.query.evaluate import Column
    from archive.query.values import K_STR
    vals = np.array(["ab", "b", "", "abc"], dtype=object)
    for where in ("s == 'b'", "s startswith 'a'", "s >= 'ab'", "s in ['', 'abc']", "s != 'b'",
                  "exists s", "s contains 'b'"):
        expr = parse(where)
        plain = expr.evaluate({("s",): vals}, 4)
        assert expr.evaluate({("s",): Column.uniform(vals, K_STR)}, 4).tolist() == plain.tolist()
        assert plain.tolist() == [expr.matches({"s": v}) for v in vals]
    with pytest.raises(ValueError):
        parse("s == 'b'").evaluate({("s",): Column.uniform(vals, K_STR)}, 3)
