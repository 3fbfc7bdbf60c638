"""The compact key index (archive/index/keys.py, keyruns.py) against a plain dict model.

Fingerprints can be forced into a tiny range (so most keys collide and every hit must be
verified against the stored key), blocks made tiny (so runs span many blocks and extents)
and commits made frequent (so runs merge); keys are str and bytes, short and > 400 bytes,
equal to a field, a field plus a suffix, or unrelated to the record.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import lmdb
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import archive
from archive.codec.chunk import ChunkEncoder
from archive.errors import ArchiveVersionError, CorruptIndexError
from archive.index import keyruns, keys as keyindex, keysource
from archive.index.records import decode_key, encode_key

key_names = st.integers(0, 30)
#: how a record relates to its key: equal to field "uid", "uid" + suffix, or not at all
modes = st.sampled_from(["field", "suffix", "hidden", "bytes-field", "bytes-hidden", "long"])
ops = st.lists(st.one_of(
    st.tuples(st.just("add"), key_names, modes),
    st.tuples(st.just("put"), key_names, modes),
    st.tuples(st.just("delete"), key_names, modes),
    st.tuples(st.just("plain"), key_names, modes),
    st.tuples(st.just("commit"), key_names, modes),
    st.tuples(st.just("compact"), key_names, modes),
), min_size=1, max_size=60)


def make(n: int, mode: str, tag: int) -> tuple[str | bytes, dict]:
    """A key and a record for it (same key ``n`` gives the same key in every mode family)."""
    if mode in ("bytes-field", "bytes-hidden"):
        key: str | bytes = b"\xffk%d" % n
        rec = {"bk": key, "tag": tag} if mode == "bytes-field" else {"other": b"x", "tag": tag}
        return key, rec
    key = f"k{n}" + ("L" * 420 if mode == "long" else "")
    if mode == "field":
        return key, {"uid": key, "tag": tag}
    if mode == "suffix" and n % 3:
        return key, {"uid": key[:2], "tag": tag}
    return key, {"v": tag, "uid": "zz"}


def check(ar: archive.Archive, model: dict) -> None:
    probe = [make(n, m, 0)[0] for n in range(31) for m in ("field", "long", "bytes-field")]
    for k in probe:
        assert ar.get(k) == model.get(k), k
        assert (k in ar) == (k in model), k
    assert ar.get_many(probe) == [model.get(k) for k in probe]
    assert ar.verify() == []


def run_ops(path: Path, seq: list, reopen: bool) -> None:
    model: dict = {}
    committed: dict = {}
    ar = archive.open(path, "a", group_rows=5)
    try:
        for i, (op, n, mode) in enumerate(seq):
            key, rec = make(n, mode, i)
            if op == "add":
                if key in model:
                    with pytest.raises(archive.KeyExistsError):
                        ar.append(rec, key=key)
                else:
                    ar.append(rec, key=key)
                    model[key] = rec
            elif op == "put":
                ar.put(key, rec)
                model[key] = rec
            elif op == "delete":
                if key in model:
                    ar.delete(key)
                    del model[key]
                else:
                    with pytest.raises(KeyError):
                        ar.delete(key)
            elif op == "plain":
                ar.append(rec)
            elif op == "commit":
                ar.commit()
                committed = dict(model)
                if reopen:
                    ar.close()
                    ar = archive.open(path, "a", group_rows=5)
            else:
                ar.compact()
                committed = dict(model)
            for k in (key, make(n, "field", 0)[0]):
                assert ar.get(k) == model.get(k)
                assert (k in ar) == (k in model)
        ar.commit()
        check(ar, model)
        ar.put(make(0, "field", 0)[0], {"last": 1})
        ar.rollback()
        check(ar, model)
        committed = model
    finally:
        ar.close()
    with archive.open(path) as ro:
        check(ro, committed)


@pytest.fixture
def tiny(monkeypatch):
    """Fingerprints in 0..2 and blocks of 3 entries: collisions and multi-block runs everywhere."""
    real, real_many = keyruns.fingerprint, keyruns.fingerprints
    monkeypatch.setattr(keyruns, "fingerprint", lambda salt, key: real(salt, key) % 3)
    monkeypatch.setattr(keyruns, "fingerprints", lambda salt, keys: real_many(salt, keys) % 3)
    monkeypatch.setattr(keyruns, "BLOCK_ENTRIES", 3)
    monkeypatch.setattr(keyruns, "EXTENT_BYTES", 100)


@settings(max_examples=30)
@given(seq=ops, reopen=st.booleans())
def test_model(seq, reopen):
    d = tempfile.mkdtemp()
    try:
        run_ops(Path(d) / "a", seq, reopen)
    finally:
        shutil.rmtree(d)


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seq=ops, reopen=st.booleans())
def test_model_colliding_fingerprints(tiny, seq, reopen):
    d = tempfile.mkdtemp()
    try:
        run_ops(Path(d) / "a", seq, reopen)
    finally:
        shutil.rmtree(d)


def test_runs_merge_geometrically(tmp_path):
    with archive.open(tmp_path / "a", "a") as ar:
        n = 0
        for size in [1] * 40 + [50, 3, 200, 7, 1000]:
            ar.extend([{"uid": f"u{n + i}"} for i in range(size)], [f"u{n + i}" for i in range(size)])
            ar.commit()
            n += size
            man = ar._keyidx.manifest(ar._view.get_txn())
            sizes = man.runs["n"].tolist()
            assert all(a > keyruns.MERGE_RATIO * b for a, b in zip(sizes, sizes[1:])), sizes
        assert len(man.runs) <= 6
        for i in range(0, n, 7):
            assert ar.get(f"u{i}") == {"uid": f"u{i}"}
        assert ar.verify() == []


def test_key_sources_cost_nothing_for_field_keys(tmp_path):
    n = 20000
    recs = [{"uid": f"C{i * 7919 % 1000003:x}Q{i}", "n": i} for i in range(n)]
    with archive.open(tmp_path / "a", "a") as ar:
        ar.extend(recs, [r["uid"] for r in recs])
    with archive.open(tmp_path / "b", "a") as ar:
        ar.extend(recs, [r["uid"] + "#0" for r in recs])
    with archive.open(tmp_path / "c", "a") as ar:
        ar.extend(recs, [f"other-{i}" for i in range(n)])
    sizes = {}
    for name in "abc":
        with archive.open(tmp_path / name) as ar:
            sizes[name] = ar.stats()["key_index_bytes"]
            assert ar.get(recs[123]["uid"] + ("#0" if name == "b" else "")) in (recs[123], None)
    assert sizes["a"] < 6 * n, sizes  # fingerprint + slot only
    assert sizes["b"] < sizes["a"] + 2000, sizes  # the "#0" suffixes compress to nothing
    assert sizes["c"] > sizes["a"], sizes  # whole keys stored


def test_describe_and_source_roundtrip():
    recs = [{"uid": "abc", "x": 1}, {"uid": "abd"}, {"uid": "ab"}]
    b = keyindex.describe_batch(10, recs, ["abc#1", "abd", "ab\udcff"])
    assert b.field == "uid" and b.parts == ["#1", "", "\udcff"]
    assert keyindex.describe_batch(0, recs, ["zzz", "abd", "ab"]).field is None
    mixed = keyindex.group_source([keyindex.KeyBatch(0, ["a", b"a"], None, None)], 0, 5)
    assert mixed is not None and mixed.ktype == keysource.MIXED
    enc = ChunkEncoder(3)
    for src in (mixed, keyindex.group_source([b], 8, 4)):
        back = keysource.KeySource.unpack(0, src.pack(lambda _stream, kind, v: enc.encode(kind, v).data))
        assert (back.ktype, back.field, back.parts) == (src.ktype, src.field, src.parts)
    src = keyindex.group_source([b], 8, 4)
    assert decode_key(src.key_at(2, "abc")) == "abc#1" and src.key_at(1, "abc") is None
    assert src.key_at(2, b"abc") is None  # a field of the wrong type is no key


def _edit(path: Path, fn) -> None:
    env = lmdb.open(str(path / "index"), max_dbs=20, subdir=True)
    try:
        with env.begin(write=True) as txn:
            fn(txn, env.open_db(b"keys", txn=txn))
    finally:
        env.close()


def _built(path: Path) -> None:
    with archive.open(path, "a", group_rows=50) as ar:
        ar.extend([{"uid": f"u{i}"} for i in range(3000)], [f"u{i}" for i in range(3000)])


@pytest.mark.parametrize("where", ["extent", "head", "manifest"])
def test_corrupt_run_raises(tmp_path, where):
    _built(tmp_path / "a")

    def garble(txn, db):
        prefix = {"extent": b"X", "head": b"R", "manifest": b"M"}[where]
        with txn.cursor(db=db) as cur:
            assert cur.set_range(prefix)
            k, v = cur.key(), cur.value()
        txn.put(k, v[:40] + bytes([v[40] ^ 1]) + v[41:], db=db)
    _edit(tmp_path / "a", garble)
    with archive.open(tmp_path / "a") as ar:
        with pytest.raises(CorruptIndexError, match="key"):
            for i in range(0, 3000, 100):  # the garbled block is one of many
                ar.get(f"u{i}")
        problems = ar.verify()
        assert problems and all("key" in p for p in problems), problems
        assert ar[5] == {"uid": "u5"}  # positions do not depend on the key index


def test_entry_naming_another_row_is_not_a_hit(tmp_path):
    _built(tmp_path / "a")

    def add(txn, db):
        man = keyruns.read_manifest(txn, db)
        fp = keyruns.fingerprint(man.salt, encode_key("missing"))
        keyruns.add_run(txn, db, man, np.array([fp], np.uint32), np.array([7]), np.zeros(0, np.int64))
    _edit(tmp_path / "a", add)
    with archive.open(tmp_path / "a") as ar:
        assert ar.get("missing") is None and "missing" not in ar
        assert ar.get("u7") == {"uid": "u7"}
        assert any("does not match" in p for p in ar.verify())


@pytest.mark.parametrize("version, advice", [(b"2", "export it with the older build"),
                                            (b"99", "upgrade the archive package")])
def test_other_format_refused(tmp_path, version, advice):
    _built(tmp_path / "a")
    env = lmdb.open(str(tmp_path / "a" / "index"), max_dbs=20, subdir=True)
    with env.begin(write=True) as txn:
        txn.put(b"format", version, db=env.open_db(b"meta", txn=txn))
    env.close()
    with pytest.raises(ArchiveVersionError, match=advice):
        archive.open(tmp_path / "a")


def test_batch_lookup_below_and_above_every_fingerprint(tmp_path, monkeypatch):
    """find_many when no key can lie in any block (all fingerprints before a run's first)."""
    real = keyruns.fingerprint
    monkeypatch.setattr(keyruns, "fingerprint", lambda salt, key: 5 if key.startswith(b"sold") else real(salt, key) % 3)
    with archive.open(tmp_path / "a", "a") as ar:
        ar.extend([{"i": i} for i in range(10)], [f"old{i}" for i in range(10)])
        ar.commit()
        ar.extend([{"i": i} for i in range(20)], [f"new{i}" for i in range(20)])
        ar.commit()
        assert ar.get_many([f"new{i}" for i in range(20)] + ["old3"]) == [{"i": i} for i in range(20)] + [{"i": 3}]
        assert ar.get_many(["zz"] * 10) == [None] * 10
