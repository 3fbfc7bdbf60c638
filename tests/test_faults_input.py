"""Bad input: unsupported types, non-str dict keys, keys longer than LMDB allows, records
larger than a chunk (and than any chunk), nesting deeper than the recursion limit, malformed
JSON lines.  Each gets a clear error or is stored and read back exactly, and a batch with one
bad record adds nothing: ``len`` is unchanged, after commit and reopen too.
"""
from __future__ import annotations

import datetime
import decimal
import sys
from collections import OrderedDict

import numpy as np
import pytest

import archive
import archive.codec.chunk as chunk_mod
from archive.cli import main
from archive.errors import BadInputError, KeyExistsError
from tests.faults.workload import budget
from tests.strategies import exact

SMALL = dict(group_rows=7, chunk_items=16, chunk_bytes=1024, segment_bytes=4096)
GOOD = [{"i": i, "s": f"v{i}", "l": [i, None]} for i in range(30)]


def deep(n: int, kind: str):
    v: object = 1
    for _ in range(n):
        v = [v] if kind == "list" else {"k": v}
    return v


class Weird:
    pass


BAD_RECORDS = {
    "object": {"x": Weird()},
    "set": {"x": {1, 2}},
    "complex": [1, 2j],
    "datetime": {"t": datetime.datetime(2024, 1, 1)},
    "decimal": {"d": decimal.Decimal("1.5")},
    "numpy int": {"n": np.int64(3)},
    "numpy array": {"a": np.arange(3)},
    "int key": {1: "one"},
    "bytes key": {b"k": 1},
    "tuple key": {"outer": {("a",): 1}},
    "None key": {None: 1},
    "deep lists": deep(5000, "list"),
    "deep dicts": deep(5000, "dict"),
    "deep beyond the recursion limit": deep(sys.getrecursionlimit() + 50, "list"),
}


@pytest.fixture
def ar(tmp_path):
    a = archive.open(tmp_path / "a", "a", **SMALL)
    a.extend(GOOD, keys=[f"g{i}" for i in range(len(GOOD))])
    a.commit()
    yield a
    a.close()


def reopen(a: archive.Archive) -> archive.Archive:
    path = a.path
    a.close()
    return archive.open(path, "a")


@pytest.mark.parametrize("name", sorted(BAD_RECORDS))
def test_bad_record_in_a_batch_adds_nothing(ar, name):
    bad = BAD_RECORDS[name]
    batch = [{"ok": i} for i in range(20)] + [bad] + [{"ok": i} for i in range(20)]
    ar.append({"pending": True})  # uncommitted, must survive the refused batch
    n = len(ar)
    with pytest.raises((TypeError, BadInputError)) as info:
        ar.extend(batch)
    assert "$" in str(info.value) or "nesting" in str(info.value)  # names where it is
    with pytest.raises((TypeError, BadInputError)):
        ar.extend(batch, keys=[f"b{i}" for i in range(len(batch))])
    with pytest.raises((TypeError, BadInputError)):
        ar.append(bad)
    with pytest.raises((TypeError, BadInputError)):
        ar.put("g3", bad)
    assert len(ar) == n and "b0" not in ar and ar.get("g3") == GOOD[3]
    ar.commit()
    ar = reopen(ar)
    try:
        assert len(ar) == n and exact(list(ar.scan())) == exact(GOOD + [{"pending": True}])
        assert ar.verify() == []
        ar.extend(batch[:20])  # the archive takes good records afterwards
        assert len(ar) == n + 20
    finally:
        ar.close()


def test_bad_keys_add_nothing(ar):
    n = len(ar)
    recs = [{"x": i} for i in range(10)]
    cases = [
        ([f"n{i}" for i in range(9)] + [7], TypeError),         # a key of a bad type
        ([f"n{i}" for i in range(9)] + ["n0"], KeyExistsError),  # twice in the batch
        ([f"n{i}" for i in range(9)] + ["g5"], KeyExistsError),  # already stored
        ([f"n{i}" for i in range(9)], ValueError),               # one key short
    ]
    for keys, err in cases:
        with pytest.raises(err):
            ar.extend(recs, keys=keys)
        assert len(ar) == n and "n0" not in ar
    with pytest.raises(TypeError):
        ar.put(3.5, {"x": 1})
    with pytest.raises(TypeError):
        ar.get(["list"])
    ar.commit()
    ar = reopen(ar)
    assert len(ar) == n and ar.verify() == []
    ar.close()


def test_long_keys(ar):
    """Keys far past LMDB's 511-byte limit are stored by digest: get/put/delete/contains work,
    across commits and reopening, for str and bytes keys alike."""
    ks = ["k" * 10_000, "k" * 9_999 + "l", b"\x00" * 10_000, "é" * 5_000, "x" * 512]
    for i, k in enumerate(ks):
        ar.append({"long": i}, key=k)
    assert [ar.get(k) for k in ks] == [{"long": i} for i in range(len(ks))]
    ar.commit()
    ar = reopen(ar)
    try:
        assert all(k in ar for k in ks) and ar.get_many(ks) == [{"long": i} for i in range(len(ks))]
        ar.put(ks[0], {"long": "replaced"})
        ar.delete(ks[2])
        with pytest.raises(KeyExistsError):
            ar.append({}, key=ks[1])
        ar.commit()
        ar = reopen(ar)
        assert ar.get(ks[0]) == {"long": "replaced"} and ks[2] not in ar and ar.get(ks[2]) is None
        assert ar.get(ks[1]) == {"long": 1} and ar.verify() == []
        with pytest.raises(KeyError):
            ar.delete(ks[2])
        ar.compact()
        assert ar.get(ks[0]) == {"long": "replaced"} and ar.get(ks[4]) == {"long": 4}
    finally:
        ar.close()


def test_nesting_at_the_limit_round_trips(ar):
    from archive.codec.shred import MAX_NESTING
    for kind in ("list", "dict"):
        rec = deep(MAX_NESTING - 1, kind)
        ar.append(rec)
        assert ar[-1] == rec
    ar.commit()
    ar = reopen(ar)
    assert ar[-1] == deep(MAX_NESTING - 1, "dict") and ar.verify() == []
    ar.close()


def test_records_larger_than_a_chunk(tmp_path):
    """One value or one list far larger than a chunk: split over many chunks (a list) or
    stored alone in an oversized chunk (a string), read back exactly."""
    n = budget(1_000_000, 5_000_000)
    big_list = {"l": list(range(n))}
    big_str = {"s": "y" * 50_000_000}
    with archive.open(tmp_path / "a", "a", group_rows=8, chunk_items=65536, chunk_bytes=1 << 20,
                      segment_bytes=1 << 24, zstd_level=1) as ar:
        ar.append({"small": 1})
        ar.append(big_list)
        ar.append(big_str)
        ar.append({"small": 2})
    with archive.open(tmp_path / "a") as ar:
        assert len(ar) == 4 and ar[0] == {"small": 1} and ar[3] == {"small": 2}
        got = ar[1]["l"]
        assert len(got) == n and got[:3] == [0, 1, 2] and got[-1] == n - 1
        assert ar[2] == big_str
        assert ar.verify() == []


def test_value_too_large_for_any_chunk(tmp_path, monkeypatch):
    """A single value beyond the format's chunk limit (lowered here to 1 MiB so the test is
    cheap) is refused up front with BadInputError; nothing is added and the records already
    pending still commit.  (Before the fix the record was added, and every commit failed.)"""
    monkeypatch.setattr(chunk_mod, "MAX_RAW_BYTES", 1 << 20)
    with archive.open(tmp_path / "a", "a") as ar:
        ar.extend([{"a": i} for i in range(3)])
        ar.commit()
        ar.append({"a": 99})
        for bad in ({"s": "x" * (2 << 20)}, {"b": b"\x00" * (2 << 20)}, {"s": "€" * (1 << 19)}):
            with pytest.raises(BadInputError):
                ar.extend([{"a": 5}, bad, {"a": 6}])
            with pytest.raises(BadInputError):
                ar.put("k", bad)
        assert len(ar) == 4
        ar.commit()
    with archive.open(tmp_path / "a") as ar:
        assert [r["a"] for r in ar] == [0, 1, 2, 99] and ar.verify() == []


def test_refused_batch_with_new_shapes_leaves_reads_intact(tmp_path):
    """A refused batch may register dict shapes that no stored record uses; the commit that
    follows must not put the writer's column table out of step (it once did: later records
    read back from the wrong columns until the archive was reopened)."""
    with archive.open(tmp_path / "a", "a") as ar:
        ar.append({"a": 1})
        ar.commit()
        with pytest.raises(TypeError):
            ar.extend([{"b": {"x": {1j}}}])
        ar.commit()
        ar.append({"c": "hello", "d": [1.5]})
        ar.commit()
        assert ar[-1] == {"c": "hello", "d": [1.5]} and ar.verify() == []
    with archive.open(tmp_path / "a") as ar:
        assert list(ar) == [{"a": 1}, {"c": "hello", "d": [1.5]}]


def test_odd_but_valid_values_round_trip(ar):
    recs = [OrderedDict(b=1, a=2), {"": {"": ""}}, {"k.with.dots": [[], {}, [[]]]},
            {"big": 2**200, "neg": -(2**64)}, {"nan": float("nan")}, {"s": "\ud800 lone surrogate"},
            [True, 1, 1.0, "1", b"1", None], (1, (2, 3))]
    ar.extend(recs)
    ar.commit()
    ar = reopen(ar)
    try:
        got = ar[len(GOOD):]
        want = [dict(recs[0])] + recs[1:7] + [[1, [2, 3]]]
        assert exact(got) == exact(want)
    finally:
        ar.close()


def test_malformed_json_lines_in_ingest(tmp_path, capsys):
    """The CLI's part: a malformed line stops the ingest with its location; batches committed
    before it stay, nothing of its batch is stored, and the archive verifies and appends."""
    src = tmp_path / "in.jsonl"
    lines = [f'{{"i": {i}}}' for i in range(25)] + ['{"i": 25, "broken": '] + [f'{{"i": {i}}}' for i in range(26, 40)]
    src.write_text("\n".join(lines) + "\n")
    code = main(["ingest", str(tmp_path / "a"), "--batch", "10", "-q", str(src)])
    err = capsys.readouterr().err
    assert code == 1 and ":26" in err and "malformed JSON" in err and "Traceback" not in err
    with archive.open(tmp_path / "a", "a") as ar:
        assert [r["i"] for r in ar] == list(range(20)) and ar.verify() == []
        ar.append({"i": "after"})
    with archive.open(tmp_path / "a") as ar:
        assert len(ar) == 21
