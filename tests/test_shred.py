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


# --------------------------------------------------------------------------- column model


class _SubDict(dict):
    """A dict subclass: the shredder reads its keys and values as for a dict."""


def _model_columns(recs: list) -> tuple[dict, dict]:
    """A plain row-by-row model of the columns (value lists in record order) and of the shape
    table (per node, key tuples numbered in order of first sight)."""
    out: dict = {}
    shapes: dict = {}

    def walk(path: tuple, v) -> None:
        tags = {type(None): Tag.NULL, bool: Tag.BOOL, int: Tag.INT, str: Tag.STR, list: Tag.LIST}
        tag = Tag.DICT if isinstance(v, dict) else tags[type(v)]
        out.setdefault((path, "tag"), []).append(int(tag))
        if tag is Tag.DICT:
            table = shapes.setdefault(path, {})
            sid = table.setdefault(tuple(v), len(table))
            out.setdefault((path, "shape"), []).append(sid)
            for k in v:
                walk(path + (k,), v[k])
        elif tag is Tag.LIST:
            out.setdefault((path, "len"), []).append(len(v))
            for x in v:
                walk(path + (ITEM,), x)
        elif tag is not Tag.NULL:
            slot = {Tag.BOOL: "bool", Tag.INT: "int", Tag.STR: "str"}[tag]
            out.setdefault((path, slot), []).append(v)

    for r in recs:
        walk((), r)
    return out, shapes


_leaf = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["a", "b"]),
                  st.lists(st.integers(0, 2), max_size=2))
#: Dicts over a few keys, each kept or dropped and in either order, so a batch holds one
#: shape, a few, or (with many records) more than the shredder reads key by key.
_dicts = st.builds(
    lambda keys, vals, sub, nested: (_SubDict if sub else dict)(
        {k: v for k, v in zip(keys, vals)} | ({"n": nested} if nested is not None else {})),
    st.lists(st.sampled_from(["k0", "k1", "k2", "k3", "k4", "k5"]), unique=True, max_size=6),
    st.lists(_leaf, min_size=6, max_size=6),
    st.booleans(),
    st.none() | st.fixed_dictionaries({"x": _leaf}, optional={"y": _leaf}),
)


@given(st.lists(_dicts, min_size=1, max_size=80), st.integers(1, 80))
def test_columns_match_a_row_by_row_model(recs, batch):
    """Whatever mix of shapes (one, a few, many; dict subclasses) a batch holds, and across
    batches sharing a shape table, every column lists its values in record order and the
    shapes are numbered in order of first sight."""
    sh = Shredder()
    got: dict = {}
    for a in range(0, len(recs), batch):
        for cid, vals in sh.shred(recs[a:a + batch]).items():
            got.setdefault(cid, []).extend(vals)
    want, shapes = _model_columns(recs)
    assert got.keys() == want.keys()
    assert all(exact(got[cid]) == exact(want[cid]) for cid in want)
    assert {node: dict(t) for node, t in sh.shapes.by_node.items()} == shapes


def test_many_shapes_in_one_batch():
    recs = [{f"k{i}": i, "common": i, f"j{i % 3}": None} for i in range(40)]
    want, _ = _model_columns(recs)
    assert Shredder().shred(recs) == want


def test_a_bad_key_in_a_new_shape_names_its_path_after_valid_new_shapes():
    sh = Shredder()
    with pytest.raises(TypeError, match=r"\$\.a"):
        sh.shred([{"a": {"x": 1}}, {"a": {"y": 1}}, {"a": {"y": 2, 3: 4}}])
    assert sh.shred([{"a": {"y": 5}}])[(("a",), "shape")] == [1]  # earlier shapes stay


@pytest.mark.parametrize("slot, values", [
    ("tag", [7] * 100), ("int", [2**63 - 1] * 70), ("int", [5] * 64 + [6]), ("bool", [True] * 90),
    ("bool", [False] * 80 + [True]), ("int", [-(2**63)]), ("float", [0.0] * 70 + [-0.0]),
    ("float", [float("nan")] * 70), ("int", [True, 1] * 40), ("int", []),
])
def test_to_array_matches_a_conversion_per_value(slot, values):
    """Constant int/bool lists are filled in one go; the array is the same as converting each."""
    from archive.codec.shred import SLOT_KIND, to_array
    got = to_array(slot, values)
    want = np.array(values, dtype={"int": np.int64, "bool": np.bool_, "float": np.float64}[SLOT_KIND[slot]])
    assert got.dtype == want.dtype and got.tobytes() == want.tobytes()


# --------------------------------------------------------------------------- mixed-type nodes


class _Int(int):
    pass


class _Float(float):
    pass


class _Str(str):
    pass


def _model_leaf_columns(values: list) -> dict:
    """Row-by-row model of one node holding scalars of any supported type or subclass: the
    tag of each (``isinstance``, bool before int), and each value converted to its base type
    in its slot (ints outside int64 as decimal text)."""
    out: dict = {((), "tag"): []}
    for v in values:
        if v is None:
            tag, slot, x = Tag.NULL, None, None
        elif isinstance(v, bool):
            tag, slot, x = Tag.BOOL, "bool", bool(v)
        elif isinstance(v, int):
            big = not -(2**63) <= v < 2**63
            tag, slot, x = (Tag.BIG, "big", str(int(v))) if big else (Tag.INT, "int", int(v))
        elif isinstance(v, float):
            tag, slot, x = Tag.FLOAT, "float", float(v)
        elif isinstance(v, str):
            tag, slot, x = Tag.STR, "str", str.__str__(v)
        else:
            tag, slot, x = Tag.BYTES, "bytes", bytes(v)
        out[((), "tag")].append(int(tag))
        if slot is not None:
            out.setdefault(((), slot), []).append(x)
    return out


_mixed_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-3, 3).map(_Int),
    st.floats(allow_nan=False), st.floats(-2, 2).map(_Float), st.text(max_size=3),
    st.text(max_size=3).map(_Str), st.binary(max_size=3),
)


@given(st.lists(_mixed_scalar, min_size=1, max_size=60))
def test_mixed_type_node_matches_a_per_value_model(values):
    """A node of mixed types (subclasses, big ints, nulls) is split by type in one pass per
    tag: the same tags, and the same converted values in record order, as value by value."""
    got = Shredder().shred(values)
    want = _model_leaf_columns(values)
    assert got.keys() == want.keys()
    assert all(exact(got[cid]) == exact(want[cid]) for cid in want)
    assert all(type(x) in (int, float, str, bytes, bool) for vals in got.values() for x in vals)


def test_mixed_types_name_the_first_unsupported_type():
    with pytest.raises(TypeError, match=r"cannot store set at \$\[\]"):
        Shredder().shred([[1, "a", {1}, object()]])
