"""Column dictionaries (``Settings.zstd_dict_bytes``) and compaction of small groups."""
from __future__ import annotations

import os
import random
import struct

import lmdb
import numpy as np
import pytest

import archive
from archive.codec import zdict
from archive.codec.chunk import FLAG_DICT, HEADER, ChunkEncoder, decode_chunk, read_header
from archive.codec.zdict import DictTrainer, Dicts
from archive.errors import CorruptChunkError, CorruptIndexError
from archive.index.records import U32


def payloads(n: int, seed: int = 0) -> list[bytes]:
    """Small payloads sharing most of their bytes (what one column's small chunks look like)."""
    rng = random.Random(seed)
    words = [f"host-{i:03d}.example.org".encode() for i in range(40)]
    return [b"".join(rng.choice(words) for _ in range(12)) for _ in range(n)]


def test_trainer_waits_for_enough_samples_then_decides_once():
    t = DictTrainer(1024, 9)
    ps = payloads(zdict.SAMPLES + 5)
    assert all(t.offer("c", p) is None for p in ps[:zdict.SAMPLES - 1])
    raw = t.offer("c", ps[zdict.SAMPLES - 1])
    assert raw is not None and 0 < len(raw) <= 1024
    assert t.offer("c", ps[-1]) is None  # decided: later offers are ignored
    assert t.offer("other", ps[0]) is None  # columns are apart


def test_trainer_refuses_what_does_not_pay():
    t = DictTrainer(1024, 9)
    rng = np.random.default_rng(1)
    noise = [rng.integers(0, 256, 300, dtype=np.uint8).tobytes() for _ in range(zdict.SAMPLES)]
    assert [t.offer("c", p) for p in noise][-1] is None
    big = DictTrainer(1024, 9)
    assert all(big.offer("c", b"x" * (zdict.MAX_SAMPLE + 1)) is None for _ in range(zdict.SAMPLES + 1))


def test_dictionary_chunk_round_trip_and_needs_its_dictionary():
    t = DictTrainer(1024, 9)
    trained = [t.offer("c", p) for p in payloads(zdict.SAMPLES)][-1]
    assert trained is not None
    dicts = Dicts()
    did = dicts.add(trained)
    assert did == 1 and did in dicts and 2 not in dicts and len(dicts) == 1
    enc = ChunkEncoder(9, dicts)
    values = np.array([p.decode() for p in payloads(20, seed=3)], dtype=object)
    data = enc.encode("str", values, dict_id=did).data
    h = read_header(data)
    assert h.dict_id == did and h.compressed
    assert len(data) < len(ChunkEncoder(9).encode("str", values).data)
    assert decode_chunk(data, dicts)[1].tolist() == values.tolist()
    with pytest.raises(CorruptChunkError, match=f"dictionary {did}, which the archive does not hold"):
        decode_chunk(data)
    t2 = DictTrainer(1024, 9)
    other = [t2.offer("d", p) for p in payloads(zdict.SAMPLES, seed=9)][-1]
    assert other is not None and other != trained
    with pytest.raises(CorruptChunkError):
        decode_chunk(data, Dicts([(did, other)]))  # another dictionary: the frame names its id


@pytest.mark.parametrize("flags, dict_id", [(FLAG_DICT, 0), (1, 5), (FLAG_DICT, 5), (4 | 1, 0)])
def test_header_dictionary_fields_must_agree(flags, dict_id):
    data = bytearray(ChunkEncoder(9).encode("int", np.arange(50)).data)
    struct.pack_into("<BH", data, 5, flags, dict_id)
    with pytest.raises(CorruptChunkError, match="flags"):
        read_header(bytes(data))


def _small_commits(path, records, dict_bytes):
    with archive.open(path, "a", zstd_dict_bytes=dict_bytes, group_rows=512, bundle_bytes=0) as ar:
        for a in range(0, len(records), 10):
            ar.extend(records[a:a + 10])
            ar.commit()


def _records(n):
    rng = random.Random(5)
    return [{"host": f"web-{rng.randrange(30):02d}.example.org", "status": rng.choice([200, 200, 404, 500]),
             "path": "/" + "/".join(rng.choice(["api", "v1", "users", "items", "search"]) for _ in range(3)),
             "ms": round(rng.random() * 100, 3)} for _ in range(n)]


def test_archive_with_dictionaries_round_trips_and_compacts(tmp_path):
    recs = _records(1200)
    plain, with_dicts = tmp_path / "plain", tmp_path / "dicts"
    _small_commits(plain, recs, 0)
    _small_commits(with_dicts, recs, 1024)
    seg = lambda p: sum(os.path.getsize(p / f) for f in os.listdir(p) if f.endswith(".acs"))  # noqa: E731
    with archive.open(with_dicts) as ar:
        assert len(ar._view.dicts) > 0
        used = {read_header(ar._view.files[int(r["file"])].chunk(int(r["seg"]))).dict_id
                for refs in ar._view.group_refs for r in refs}
        assert used - {0}, "no chunk uses a dictionary"
        assert list(ar) == recs
        assert ar.verify() == []
        assert [r["ms"] for r in ar.scan(where="status == 500 and host startswith 'web-1'")] == \
            [r["ms"] for r in recs if r["status"] == 500 and r["host"].startswith("web-1")]
        assert ar.take([5, 900, 5]) == [recs[5], recs[900], recs[5]]
        assert ar.column("status").tolist() == [r["status"] for r in recs]
        chunks = ar.chunks("host")
        got = [v for i in range(len(chunks)) for v in decode_chunk(chunks[i], ar.dicts)[1].tolist()]
        assert [v for v in got if isinstance(v, str)] == [r["host"] for r in recs]
    assert seg(with_dicts) < 0.95 * seg(plain)
    with archive.open(with_dicts, "a") as ar:
        groups = len(ar._view.group_first)
        ar.compact()  # nothing deleted: small groups merge
        assert len(ar._view.group_first) == 3 < groups
        assert list(ar) == recs and ar.verify() == []
        ar.extend(recs[:40])  # writing on after compaction
    with archive.open(with_dicts) as ar:
        assert list(ar) == recs + recs[:40]


def test_compaction_is_a_no_op_on_full_groups(tmp_path):
    recs = _records(1100)
    with archive.open(tmp_path / "a", "a", group_rows=512) as ar:
        ar.extend(recs)
    before = sorted(os.listdir(tmp_path / "a"))
    with archive.open(tmp_path / "a", "a") as ar:
        ar.compact()
        assert sorted(os.listdir(tmp_path / "a")) == before  # no new generation written
        assert len(ar._view.group_first) == 3


def test_garbled_dictionary_entry_refuses_to_open(tmp_path):
    recs = _records(500)
    _small_commits(tmp_path / "a", recs, 1024)
    env = lmdb.open(str(tmp_path / "a" / "index"), max_dbs=20)
    with env.begin(write=True) as txn:
        db = env.open_db(b"dicts", txn=txn)
        raw = txn.get(U32.pack(1), db=db)
        assert raw is not None
        txn.put(U32.pack(1), raw[:-1] + bytes([raw[-1] ^ 1]), db=db)
    env.close()
    with pytest.raises(CorruptIndexError, match="dictionary 1: checksum mismatch"):
        archive.open(tmp_path / "a")


def test_dictionary_setting_is_checked():
    with pytest.raises(ValueError, match="zstd_dict_bytes"):
        archive.engine.settings.Settings(zstd_dict_bytes=10)
    assert HEADER.size == 24


def test_reader_keeps_its_dictionaries_across_a_compaction(tmp_path):
    """Compaction replaces the dictionary table (the new generation trains its own, with the
    same ids); a reader still on the old snapshot decodes the old chunks with the old
    dictionaries it loaded, and reads the new generation after refresh()."""
    recs = _records(1000)
    path = tmp_path / "a"
    with archive.open(path, "a", zstd_dict_bytes=1024, group_rows=16, bundle_bytes=0) as ar:
        for a in range(0, len(recs), 5):
            ar.extend(recs[a:a + 5])
            ar.commit()
    reader = archive.open(path)
    old = {i: reader.dicts.raw(i) for i in range(1, len(reader.dicts) + 1)}
    assert old
    with archive.open(path, "a") as ar:
        ar.compact()  # 200 groups of 5 -> 63 of 16: still small enough to train again
        assert len(ar._view.group_first) == 63
        new = {i: ar.dicts.raw(i) for i in range(1, len(ar.dicts) + 1)}
    assert new and any(new.get(i) != raw for i, raw in old.items())  # ids reused, other bytes
    reader._drop_cache()
    assert list(reader) == recs  # the old generation's files, the old dictionaries
    reader.refresh()
    assert list(reader) == recs and reader.verify() == []
    reader.close()


def test_dictionary_ids_running_out_stop_training(tmp_path, monkeypatch):
    """Dictionary ids are u16 in the chunk header: once they run out, later columns are
    compressed without one (writes never fail for it)."""
    from archive.engine import writer
    monkeypatch.setattr(writer, "MAX_DICTS", 1)
    recs = _records(600)
    _small_commits(tmp_path / "a", recs, 1024)
    with archive.open(tmp_path / "a") as ar:
        assert len(ar.dicts) == 1
        assert list(ar) == recs and ar.verify() == []


def test_trainer_memory_is_bounded(monkeypatch):
    """Samples held over all columns stay under MAX_HELD; a column that would pass it goes
    without a dictionary, and the others still train."""
    monkeypatch.setattr(zdict, "MAX_HELD", 10 * 240)
    t = DictTrainer(1024, 9)
    ps = payloads(zdict.SAMPLES)
    for p in ps[:9]:
        assert t.offer("a", p) is None
    assert t._held == 9 * 240
    assert t.offer("b", ps[0]) is None and t.offer("b", ps[1]) is None  # 10th fits, 11th not
    assert t._held == 9 * 240 and t.offer("b", ps[2]) is None  # b is decided: ignored
    monkeypatch.setattr(zdict, "MAX_HELD", 1 << 20)
    got = [t.offer("a", p) for p in ps[9:]]
    assert got[-1] is not None and t._held == 0


def test_batch_decode_reads_raw_plain_and_dictionary_chunks(tmp_path, monkeypatch):
    """The multi-threaded batch path (forced here for small groups) decodes every kind of
    stored chunk — raw, zstd, zstd with a dictionary — as the one-by-one path does."""
    from archive.codec.shred import SLOT_KIND
    from archive.engine import chunkio
    recs = _records(600)
    _small_commits(tmp_path / "a", recs, 1024)
    monkeypatch.setattr(chunkio, "MIN_THREADED_BYTES", 1)
    with archive.open(tmp_path / "a") as ar:
        v = ar._view
        seen = set()
        for refs in v.group_refs:
            batch = [(r, SLOT_KIND[v.columns[int(r["col"])][1]]) for r in refs]
            assert chunkio.threaded([r for r, _ in batch], 2)
            got = chunkio.decode_refs(v, batch, threads=2)
            for (r, kind), col in zip(batch, got):
                h = read_header(v.files[int(r["file"])].chunk(int(r["seg"])))
                seen.add((h.compressed, bool(h.dict_id)))
                want = chunkio.decode_ref(v, r, kind)
                every = np.arange(len(want))
                assert np.asarray(col[every]).tolist() == np.asarray(want[every]).tolist()
        assert seen == {(False, False), (True, False), (True, True)}, seen
        assert list(ar) == recs
