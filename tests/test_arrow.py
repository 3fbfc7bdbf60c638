"""Arrow out: schema inference, batches equal to scan(), DuckDB and pandas reading a reader."""
from __future__ import annotations

import base64
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pyarrow as pa

import archive
from archive.arrow import JSON_META, VALUE_FIELD, infer_schema, is_json, to_arrow
from tests.strategies import exact, records, shaped


def _archive(path, recs, **settings):
    ar = archive.open(path, "a", **settings)
    ar.extend(recs)
    ar.commit()
    return ar


def _json_model(v):
    """What the JSON-text fallback promises: bytes as base64 text, NaN/inf as null."""
    if isinstance(v, bytes):
        return base64.b64encode(v).decode()
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if isinstance(v, list):
        return [_json_model(x) for x in v]
    if isinstance(v, dict):
        return {k: _json_model(x) for k, x in v.items()}
    return v


def expect(v, field):
    """The Python value to_pylist() should give for a record's value ``v`` under ``field``."""
    if v is None:
        return None
    if is_json(field):
        return ("json", exact(_json_model(v)))
    t = field.type
    if pa.types.is_struct(t):
        return {t.field(i).name: expect(v.get(t.field(i).name), t.field(i)) for i in range(t.num_fields)}
    if pa.types.is_list(t):
        return [expect(x, t.value_field) for x in v]
    if pa.types.is_floating(t):
        return exact(float(v))
    return exact(v)


def actual(v, field):
    if v is None:
        return None
    if is_json(field):
        return ("json", exact(json.loads(v)))
    t = field.type
    if pa.types.is_struct(t):
        return {t.field(i).name: actual(v[t.field(i).name], t.field(i)) for i in range(t.num_fields)}
    if pa.types.is_list(t):
        return [actual(x, t.value_field) for x in v]
    return exact(v)


def check_equal_to_scan(ar, columns=None, where=None, batch_rows=None):
    reader = to_arrow(ar, columns, where, batch_rows)
    schema = reader.schema
    table = reader.read_all()
    want = list(ar.scan(columns, where))
    assert table.num_rows == len(want)
    rows = table.to_pylist()
    if VALUE_FIELD in schema.names and schema.metadata:
        f = schema.field(0)
        assert [actual(r[VALUE_FIELD], f) for r in rows] == [expect(v, f) for v in want]
        return table
    for got, rec in zip(rows, want):
        assert {f.name: actual(got[f.name], f) for f in schema} == \
            {f.name: expect(rec.get(f.name) if isinstance(rec, dict) else None, f) for f in schema}
    return table


def test_schema_from_columns(tmp_path):
    recs = [
        {"i": 1, "f": 1.5, "n": 1, "b": True, "s": "x", "y": b"\x00", "z": None,
         "d": {"k": 1, "l": [1, 2]}, "l": [{"a": 1}], "m": 1, "e": [], "big": 2**70, "o": {}},
        {"i": None, "f": 2.0, "n": 2.5, "s": "y", "m": "one", "d": {"k": 2, "q": "w"}, "e": [], "o": {}},
        {"m": [1], "extra": 1},
    ]
    with _archive(tmp_path / "a", recs) as ar:
        s = infer_schema(ar)
        assert s.names == ["i", "f", "n", "b", "s", "y", "z", "d", "l", "m", "e", "big", "o", "extra"]
        t = {f.name: f.type for f in s}
        assert t["i"] == pa.int64() and t["f"] == pa.float64() and t["n"] == pa.float64()
        assert t["b"] == pa.bool_() and t["s"] == pa.string() and t["y"] == pa.binary()
        assert t["z"] == pa.null()
        assert t["d"] == pa.struct([("k", pa.int64()), ("l", pa.list_(pa.int64())), ("q", pa.string())])
        assert t["l"] == pa.list_(pa.struct([("a", pa.int64())]))
        assert t["e"] == pa.list_(pa.null()) and t["o"] == pa.struct([])
        for name in ("m", "big"):  # mixed kinds / ints beyond int64: JSON text
            assert t[name] == pa.string() and s.field(name).metadata == JSON_META
        assert not is_json(s.field("s"))
        rows = ar.to_arrow().read_all().to_pylist()
        assert rows[0]["m"] == "1" and rows[1]["m"] == '"one"' and rows[2]["m"] == "[1]"
        assert rows[0]["big"] == str(2**70) and rows[0]["n"] == 1.0 and rows[1]["i"] is None
        assert rows[1]["d"] == {"k": 2, "l": None, "q": "w"} and rows[2]["d"] is None
        check_equal_to_scan(ar)


def test_projection_schema_and_values(tmp_path):
    recs = [{"a": {"b": 1, "c": "x"}, "l": [{"b": 1, "c": 2}, 3], "s": 5},
            {"a": 7, "l": [], "s": 6}, {"a": {"c": "y"}}]
    with _archive(tmp_path / "a", recs) as ar:
        s = infer_schema(ar, ["a.b", "l.c", "s", "nope", "a.zz"])
        assert s.names == ["a", "l", "s", "nope"]
        assert s.field("a").type == pa.struct([("b", pa.int64()), ("zz", pa.null())])
        assert s.field("l").type == pa.list_(pa.struct([("c", pa.int64())]))
        assert s.field("nope").type == pa.null()
        tbl = check_equal_to_scan(ar, ["a.b", "l.c", "s", "nope", "a.zz"])
        assert tbl.column("a").to_pylist() == [{"b": 1, "zz": None}, None, {"b": None, "zz": None}]
        assert tbl.column("l").to_pylist() == [[{"c": 2}], [], None]
        check_equal_to_scan(ar, [])
        assert ar.to_arrow([]).read_all().num_rows == 3


def test_where_batches_and_groups(tmp_path):
    recs = [{"n": i, "k": "ab"[i % 2], "x": i / 2} for i in range(100)]
    with _archive(tmp_path / "a", recs, group_rows=16) as ar:
        batches = list(to_arrow(ar))
        assert [b.num_rows for b in batches] == [16] * 6 + [4]
        assert [b.num_rows for b in to_arrow(ar, batch_rows=5)] == [5, 5, 5, 1] * 6 + [4]
        # statistics prune whole groups: n >= 90 only reads the last two
        got = list(to_arrow(ar, ["n"], where="n >= 90"))
        assert [b.num_rows for b in got] == [6, 4]
        check_equal_to_scan(ar, ["n", "x"], 'k == "a" and n < 50')
        assert to_arrow(ar, where="n > 1000").read_all().num_rows == 0
        with pytest.raises(archive.QuerySyntaxError):
            to_arrow(ar, where="n >")
        with pytest.raises(ValueError):
            to_arrow(ar, batch_rows=0)


def test_deleted_replaced_and_pending_records(tmp_path):
    recs = [{"n": i, "s": str(i)} for i in range(40)]
    ar = archive.open(tmp_path / "a", "a", group_rows=8)
    ar.extend(recs, [f"k{i}" for i in range(40)])
    ar.commit()
    ar.delete("k3")
    ar.put("k5", {"n": 500, "s": "five", "new": [1.5]})
    ar.put("k30", {"n": -1, "new": "text"})
    ar.extend([{"n": 1000, "pending": True}])  # never flushed: pending writer rows
    try:
        for cols, where in ((None, None), (["n", "new"], None), (None, "n >= 30 or n < 0"),
                            (["s"], 'exists new')):
            check_equal_to_scan(ar, cols, where)
        assert infer_schema(ar).field("new").metadata == JSON_META  # list and str
        assert "pending" in infer_schema(ar).names
    finally:
        ar.close()


def test_non_dict_records_use_value_field(tmp_path):
    with _archive(tmp_path / "a", [1, "x", {"a": 1}, [2], None]) as ar:
        s = infer_schema(ar)
        assert s.names == [VALUE_FIELD] and is_json(s.field(0))
        assert ar.to_arrow().read_all().column(0).to_pylist() == ["1", '"x"', '{"a":1}', "[2]", None]
        check_equal_to_scan(ar)
        check_equal_to_scan(ar, ["a"])
    with _archive(tmp_path / "b", [3, 4]) as ar:
        assert ar.to_arrow().read_all().column(VALUE_FIELD).to_pylist() == [3, 4]


def test_empty_archive(tmp_path):
    with _archive(tmp_path / "a", []) as ar:
        r = ar.to_arrow()
        assert r.schema == pa.schema([]) and r.read_all().num_rows == 0


def test_duckdb_and_pandas_read_a_reader(tmp_path):
    import duckdb
    recs = [{"q": f"h{i % 7}.example", "t": ["A", "AAAA"][i % 3 == 0], "rtt": i * 0.01 if i % 4 else None,
             "ans": [f"10.0.0.{i % 5}"] * (i % 3), "id": {"p": i}} for i in range(3000)]
    with _archive(tmp_path / "a", recs, group_rows=512) as ar:
        reader = ar.to_arrow(["q", "t", "rtt", "id.p"], where='t == "AAAA"')  # noqa: F841
        got = duckdb.sql("select q, count(*) n, sum(rtt) s, max(id.p) p from reader "
                         "group by q order by q").fetchall()
        want: dict = {}
        for r in recs:
            if r["t"] == "AAAA":
                n, s, p = want.get(r["q"], (0, None, -1))
                s = s if r["rtt"] is None else (s or 0) + r["rtt"]
                want[r["q"]] = (n + 1, s, max(p, r["id"]["p"]))
        assert [(q, n, p) for q, n, _, p in got] == [(q, n, p) for q, (n, _, p) in sorted(want.items())]
        assert all(math.isclose(s, want[q][1]) for q, _, s, _ in got)
        con = duckdb.connect()
        con.register("dns", ar.to_arrow(["ans"]))
        assert con.sql("select sum(len(ans)) from dns").fetchall()[0][0] == sum(len(r["ans"]) for r in recs)
        df = ar.to_arrow(["q", "rtt"]).read_pandas()
        assert len(df) == 3000 and df["rtt"].isna().sum() == 750


@settings(max_examples=60)
@given(recs=st.one_of(shaped, records), group_rows=st.integers(1, 9),
       cols=st.sampled_from([None, ["n"], ["tags", "host", "a.b"], ["a", "c"]]),
       where=st.sampled_from([None, "n > 0", 'exists a or host == "x"']),
       batch_rows=st.sampled_from([None, 1, 3]))
def test_equal_to_scan_property(tmp_path_factory, recs, group_rows, cols, where, batch_rows):
    with _archive(tmp_path_factory.mktemp("p") / "a", recs, group_rows=group_rows) as ar:
        check_equal_to_scan(ar, cols, where, batch_rows)


def test_many_archives_one_schema(tmp_path):
    a = _archive(tmp_path / "d1", [{"x": 1, "s": "a", "only1": True}, {"x": 2, "s": "b"}])
    b = _archive(tmp_path / "d2", [{"x": "three", "s": "c", "f": 1.5}], group_rows=1)
    a.close()
    b.close()
    with archive.open_many(str(tmp_path / "d*")) as m:
        s = infer_schema(m)
        assert s.names == ["x", "s", "only1", "f"]
        assert is_json(s.field("x")) and s.field("s").type == pa.string()
        rows = m.to_arrow().read_all().to_pylist()
        assert rows == [{"x": "1", "s": "a", "only1": True, "f": None},
                        {"x": "2", "s": "b", "only1": None, "f": None},
                        {"x": '"three"', "s": "c", "only1": None, "f": 1.5}]
        got = m.to_arrow(["s"], where='s != "b"').read_all()
        assert got.schema.names == ["s"] and got.column("s").to_pylist() == ["a", "c"]


def test_polars_reads_a_reader(tmp_path):
    import polars as pl
    recs = [{"q": "ab"[i % 2], "n": i, "l": [i] * (i % 3), "m": i if i % 2 else "s"} for i in range(50)]
    with _archive(tmp_path / "a", recs, group_rows=8) as ar:
        df = pl.from_arrow(ar.to_arrow(where="n >= 10"))
        assert df.shape == (40, 4) and df["n"].sum() == sum(range(10, 50))
        assert df.filter(pl.col("q") == "a")["l"].list.len().sum() == sum(i % 3 for i in range(10, 50, 2))
        assert df["m"].to_list()[:2] == ['"s"', "11"]
