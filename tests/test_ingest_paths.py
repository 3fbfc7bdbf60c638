"""The ingest fast paths (Archive.extend -> Writer.add/commit -> key index) against plain models.

Each bulk helper has a one-at-a-time definition it must equal: ``fingerprints`` vs
``fingerprint``, ``encode_keys`` vs ``encode_key``, ``describe_batch`` vs a loop over the
records, ``Writer.check``'s raw size vs the per-value count ``Writer.add`` used to make.  The
end-to-end tests cover what the shortcuts skip: key sources whose reused encodings stop
applying, and duplicate keys against pending and committed keys.
"""
from __future__ import annotations

import gc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archive
from archive.codec import zstd_contexts
from archive.codec.shred import SLOT_KIND, Shredder
from archive.gcpause import gc_paused
from archive.engine.writer import Writer
from archive.errors import BadInputError, KeyExistsError
from archive.index import keyruns
from archive.index import keys as keyindex
from archive.index.records import decode_key, encode_key, encode_keys

texts = st.text(max_size=6)
plain_keys = st.one_of(texts, st.binary(max_size=6))


@given(salt=st.binary(min_size=16, max_size=16), keys=st.lists(st.binary(max_size=40), max_size=30))
def test_fingerprints_equal_one_at_a_time(salt, keys):
    got = keyruns.fingerprints(salt, iter(keys))
    assert got.dtype == np.uint32
    assert got.tolist() == [keyruns.fingerprint(salt, k) for k in keys]


class _Str(str):
    pass


@given(keys=st.lists(st.one_of(plain_keys, texts.map(_Str), st.binary(max_size=4).map(bytearray)),
                     max_size=20))
def test_encode_keys_equal_one_at_a_time(keys):
    assert encode_keys(keys) == [encode_key(k) for k in keys]
    assert encode_keys(["a\udcff"]) == [encode_key("a\udcff")]


def model_describe(first: int, records: list, keys: list) -> keyindex.KeyBatch:
    """The definition: the longest value of rec0 (same type as key 0, non-empty, a prefix of
    it) whose field is, in every record, a value of its key's type prefixing the key."""
    keys = [k if type(k) in (str, bytes) else decode_key(encode_key(k)) for k in keys]
    rec0, k0 = records[0], keys[0]
    cands = sorted((f for f, v in rec0.items() if type(v) is type(k0) and v and k0.startswith(v)),
                   key=lambda f: -len(rec0[f])) if isinstance(rec0, dict) else []
    for f in cands:
        vals = [r.get(f) if isinstance(r, dict) else None for r in records]
        if all(type(v) is type(k) and k.startswith(v) for v, k in zip(vals, keys)):
            parts = [k[len(v):] for k, v in zip(keys, vals)]
            return keyindex.KeyBatch(first, keys, f, parts if any(parts) else None)
    return keyindex.KeyBatch(first, keys, None, None)


class _Dict(dict):
    pass


values = st.one_of(st.sampled_from(["", "a", "ab", "abc", b"a", b"ab"]), st.none(), st.integers(0, 3))
records_and_keys = st.lists(st.tuples(
    st.one_of(st.dictionaries(st.sampled_from(["u", "v", "w"]), values, max_size=3),
              st.dictionaries(st.sampled_from(["u", "v"]), values, max_size=2).map(_Dict),
              st.integers(0, 2)),
    st.one_of(st.sampled_from(["a", "ab", "abc", "ab#1", "abc#2", b"a", b"ab#", b"abx"]),
              texts.map(_Str))), min_size=1, max_size=12)


@settings(max_examples=300)
@given(rk=records_and_keys, first=st.integers(0, 10))
def test_describe_batch_matches_model(rk, first):
    records, keys = [r for r, _ in rk], [k for _, k in rk]
    got, want = keyindex.describe_batch(first, records, keys), model_describe(first, records, keys)
    assert (got.first, got.keys, got.field, got.parts) == (want.first, want.keys, want.field, want.parts)
    assert all(type(k) in (str, bytes) for k in got.keys)


column_values = st.one_of(st.lists(st.text(max_size=5), max_size=5),
                          st.lists(st.binary(max_size=5), max_size=5))


@given(records=st.lists(st.one_of(
    st.dictionaries(st.sampled_from(["a", "b"]), st.one_of(st.text(max_size=8), st.binary(max_size=8),
                                                           st.integers(), st.floats(), st.booleans())),
    st.lists(st.text(max_size=3), max_size=3)), min_size=1, max_size=10))
def test_check_returns_the_raw_size_add_counts(records):
    columns = Shredder().shred(records)
    want = sum(sum(map(len, v)) + 4 * len(v) if SLOT_KIND[slot] in ("str", "bytes") else 8 * len(v)
               for (_path, slot), v in columns.items())
    assert Writer.check(columns) == want


def test_check_refuses_a_value_too_large(monkeypatch):
    from archive.codec import chunk
    monkeypatch.setattr(chunk, "MAX_RAW_BYTES", 4096 + 100)
    ok = Shredder().shred([{"s": "\u00e9" * 25}])  # 50 bytes: within the limit
    assert Writer.check(ok) > 0
    with pytest.raises(BadInputError):
        Writer.check(Shredder().shred([{"s": "\u00e9" * 60}]))  # 60 chars, 120 bytes
    with pytest.raises(BadInputError):
        Writer.check(Shredder().shred([{"b": b"x" * 101}]))


def _key(i: int, style: int) -> str:
    """Keys whose stored parts change style along the ingest (reused encodings stop fitting)."""
    if style == 0:
        return f"u{i // 3}#{i % 3}"
    if style == 1:
        return f"u{i // 3}~{'x' * (i % 7)}\u00e9{i}"
    return f"z{i}"  # no field prefixes it: the whole key is stored


@pytest.mark.parametrize("commit_every", [1, 4])
def test_key_sources_with_reused_encodings_stay_exact(tmp_path, commit_every):
    path = tmp_path / "a"
    keys: list[str] = []
    with archive.open(path, "a", group_rows=64) as ar:
        for b in range(12):
            n0 = len(keys)
            batch = [{"uid": f"u{i // 3}", "n": i} for i in range(n0, n0 + 50)]
            kb = [_key(i, (b // 3) % 3) for i in range(n0, n0 + 50)]
            ar.extend(batch, kb)
            keys += kb
            if b % commit_every == 0:
                ar.commit()
    with archive.open(path) as ar:
        for i, k in enumerate(keys):
            assert ar.get(k) == {"uid": f"u{i // 3}", "n": i}, k
        assert ar.get("u1#9") is None
        assert ar.verify() == []


def test_duplicates_against_pending_and_committed_keys(tmp_path):
    with archive.open(tmp_path / "a", "a") as ar:
        ar.extend([{"x": i} for i in range(20)], [f"k{i}" for i in range(20)])
        with pytest.raises(KeyExistsError, match="k3"):
            ar.extend([{"x": 0}, {"x": 1}], ["new", "k3"])  # pending, nothing committed yet
        ar.commit()
        ar.extend([{"x": 0}], ["p0"])
        with pytest.raises(KeyExistsError, match="k7"):
            ar.extend([{"x": 0}, {"x": 1}], ["new", "k7"])  # committed, with keys pending
        with pytest.raises(KeyExistsError, match="p0"):
            ar.extend([{"x": 0}, {"x": 1}], ["new", "p0"])
        with pytest.raises(KeyExistsError):
            ar.extend([{"x": 0}, {"x": 1}], ["dup", "dup"])
        assert len(ar) == 21 and "new" not in ar
        ar.extend([{"x": 5}], [b"k3"])  # a bytes key never equals a str key
        assert ar.get(b"k3") == {"x": 5} and ar.get("k3") == {"x": 3}


def test_writes_pause_the_collector_and_restore_it(tmp_path, monkeypatch):
    seen: list[bool] = []
    real_add = Writer.add

    def spy(self, *a, **k):
        seen.append(gc.isenabled())
        return real_add(self, *a, **k)

    monkeypatch.setattr(Writer, "add", spy)
    assert gc.isenabled()
    with archive.open(tmp_path / "a", "a") as ar:
        ar.extend([{"x": 1}], ["a"])
        ar.put("a", {"x": 2})
        assert seen == [False, False] and gc.isenabled()
        with pytest.raises(KeyExistsError):
            ar.extend([{"x": 1}], ["a"])
        assert gc.isenabled()
        with pytest.raises(TypeError):
            ar.extend([{"x": object()}])
        assert gc.isenabled()
        gc.disable()
        try:
            ar.extend([{"x": 3}])
            ar.commit()
            assert not gc.isenabled()  # a caller's own pause is left alone
        finally:
            gc.enable()
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_key_blocks_decode_from_many_threads():
    """Readers look keys up from any thread: each thread decodes key blocks with a zstd context
    of its own (one shared context corrupts its state under concurrent use and crashes the
    process, too rarely to catch by racing alone), and the blocks decode exactly."""
    import threading
    import zlib

    import zstandard

    rng = np.random.default_rng(7)
    per = keyruns.MAX_BLOCK_ENTRIES
    n = per * 8
    fps = np.sort(rng.integers(0, 1 << 32, n, dtype=np.uint64)).astype(np.uint32)
    slots = rng.permutation(n).astype(np.int64)
    cctx = zstandard.ZstdCompressor(level=3, write_content_size=True)
    fence = np.zeros(n // per, dtype=keyruns.FENCE)
    blobs, off = [], 0
    for b in range(len(fence)):
        blob = keyruns.encode_block(fps[per * b:per * (b + 1)], slots[per * b:per * (b + 1)], cctx)
        fence[b] = (int(fps[per * b]), per, 0, off, len(blob), zlib.crc32(blob))
        blobs.append(blob)
        off += len(blob)
    head = keyruns.RunHead(0, n, fence, fence["first"].tolist())
    extent = b"".join(blobs)
    errors: list[str] = []

    contexts: list[tuple[object, object]] = []

    def work() -> None:
        contexts.append((zstd_contexts.decompressor(), zstd_contexts.decompressor()))
        for _ in range(10):
            for b in range(len(fence)):
                f, s = keyruns.decode_block(head, b, extent)
                want = slice(per * b, per * (b + 1))
                if f.tolist() != fps[want].tolist() or s.tolist() != slots[want].tolist():
                    errors.append(f"block {b}")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(a is b for a, b in contexts)  # one per thread, reused within it
    assert len({id(a) for a, _ in contexts}) == len(threads)  # (all alive: ids are distinct)
