"""Fuzzing with hostile bytes: mutated chunks of every kind and encoding, and archives whose
index values (or keys) are mutated, all read in this process under an address-space limit
(``address_space_limit``): nothing but ArchiveError may come out, and nothing may read back
wrong unless ``verify()`` says so.  Hand-crafted cases: ``test_faults_hostile.py``.
"""
from __future__ import annotations

import random
import shutil
from collections import Counter
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings, strategies as st

import archive
from archive.codec import registry
from archive.codec.chunk import HEADER, decode_chunk
from archive.codec.shred import to_array
from archive.errors import ArchiveError, CorruptChunkError
from archive.index.records import NO_BUNDLE
from tests.faults.tasks import _fingerprint
from tests.faults.damage import edit_index
from tests.faults.fixtures import figures_fixture
from tests.faults.hostile import address_space_limit, chunk

FIGURES: Counter = Counter()
print_figures = figures_fixture("fuzz", FIGURES)


TYPED = ["10.0.0.1", "192.168.1.254", "::1", "fe80::1", "2024-01-02T03:04:05Z", "deadbeef",
         "12345", "-7.25", "GET /index.html 200 512", "GET /a.png 404 0", ""]
VALUES = {
    "int": st.lists(st.one_of(st.integers(-3, 3), st.integers(-(2**63), 2**63 - 1)), max_size=40),
    "float": st.lists(st.one_of(st.floats(), st.sampled_from([0.5, 1.0, 2.25, -0.0])), max_size=40),
    "bool": st.lists(st.booleans(), max_size=70),
    "str": st.lists(st.one_of(st.text(max_size=8), st.sampled_from(TYPED)), max_size=30),
    "bytes": st.lists(st.one_of(st.binary(max_size=8), st.sampled_from([b"", b"ab", b"\x00" * 5])), max_size=30),
}


@st.composite
def valid_payloads(draw) -> tuple[str, int, bytes]:
    kind = draw(st.sampled_from(registry.KINDS))
    values = to_array(kind, draw(VALUES[kind]))  # (each kind is also the name of its slot)
    enc = draw(st.sampled_from(registry.registered(kind)))
    try:
        payload = registry.encode_values(kind, values, only=(enc.codec_id,))
    except ValueError:
        payload = registry.encode_values(kind, values)
    return kind, len(values), payload


mutations = st.lists(st.tuples(st.sampled_from(["flip", "flip", "set", "set", "cut", "insert", "delete"]),
                               st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=4)


def mutate(data: bytes, muts: list[tuple[str, int, int]]) -> bytes:
    out = bytearray(data)
    for op, pos, byte in muts:
        p = pos % (len(out) + 1)
        if op == "flip" and out:
            out[p % len(out)] ^= 1 << (byte % 8)
        elif op == "set" and out:
            out[p % len(out)] = byte
        elif op == "cut":
            del out[p:]
        elif op == "insert":
            out[p:p] = bytes([byte]) * (1 + byte % 9)
        elif op == "delete":
            del out[p:p + 1 + byte % 9]
    return bytes(out)


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(valid_payloads(), mutations, st.sampled_from(["payload", "payload+zstd", "framed"]),
       st.integers(-2, 2), st.integers(0, 10**6))
def test_fuzz_decode_chunk(case, muts, where, count_delta, seed):
    """Mutated chunks of every kind and encoding: decode_chunk returns exactly ``count``
    values of the kind's dtype, or raises CorruptChunkError; nothing else, with bounded
    memory.  Mutations land in the payload behind a valid checksum (what reaches the
    decoders), in a zstd body, or anywhere in the framed chunk."""
    kind, count, payload = case
    with address_space_limit():
        assert len(decode_chunk(chunk(kind, count, payload))[1]) == count  # the valid one decodes
        count = max(0, count + count_delta) if count_delta != 2 else seed
        if where == "payload":
            data = chunk(kind, count, mutate(payload, muts))
        elif where == "payload+zstd":
            bad = mutate(payload, muts)
            data = chunk(kind, count, bad, compressed_body=zstandard.ZstdCompressor().compress(bad))
        else:
            data = mutate(chunk(kind, count, payload), muts)
        try:
            got_kind, values = decode_chunk(data)
        except CorruptChunkError:
            FIGURES["fuzz: mutated chunks refused"] += 1
            return
        assert got_kind in registry.KINDS and values.dtype == registry.DTYPES[got_kind]
        assert len(values) == HEADER.unpack_from(data)[4]
        FIGURES["fuzz: mutated chunks decoded"] += 1


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Path, list[str]]:
    path = tmp_path_factory.mktemp("small") / "a"
    rng = random.Random(3)
    with archive.open(path, "a", group_rows=8, chunk_items=8, segment_bytes=4096,
                      zstd_dict_bytes=256, bundle_bytes=40) as ar:  # 40 groups: columns train
        # dictionaries, and their tiniest chunks go into bundles
        ar.extend([{"i": i, "s": f"v{i}", "l": [i, 1.5, None][: i % 4], "d": {"x": bool(i % 2)}}
                   for i in range(320)], keys=[f"k{i}" for i in range(320)])
        ar.commit()
        for i in range(0, 40, 7):
            ar.put(f"k{i}", {"i": i, "new": rng.random()})
        for i in range(3, 40, 9):
            ar.delete(f"k{i}")
    with archive.open(path) as ar:
        assert len(ar.dicts), "the fuzzed archive must hold column dictionaries"
        assert any((refs["at"] != NO_BUNDLE).any() for refs in ar._view.group_refs), \
            "the fuzzed archive must hold bundles"
        return path, [_fingerprint(r) for r in ar.scan()]


FUZZ_TABLES = ("files", "segtab", "groups", "columns", "shapes", "dicts", "redirect", "meta", "keys")


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(table=st.sampled_from(FUZZ_TABLES), pick=st.integers(0, 10**6), muts=mutations,
       on_key=st.booleans())
def test_fuzz_open_mutated_index(small, tmp_path, table, pick, muts, on_key):
    """One index value (or, for the structural tables, one key) mutated: opening, reading
    every position and key, scanning with a filter and verifying raise nothing but
    ArchiveError, and no position reads back wrong unless verify reports a problem.  Keys and
    redirects are exempt from that last rule: a key's slot or a redirect's target carries no
    redundancy, so a flip that lands on another plausible row is a silent lost update (a
    documented limit: LMDB commits atomically, so this takes tampering, not a crash)."""
    src, fps = small
    path = tmp_path / f"f{pick}"
    shutil.rmtree(path, ignore_errors=True)
    shutil.copytree(src, path)
    on_key = on_key and table not in ("redirect", "keys", "meta")

    def fn(txn, d):
        items = list(txn.cursor(db=d[table]))
        k, v = items[pick % len(items)]
        if on_key:
            new = mutate(k, muts)
            if 0 < len(new) <= 511:
                txn.delete(k, db=d[table])
                txn.put(new, v, db=d[table])
        else:
            txn.put(k, mutate(v, muts), db=d[table])
    edit_index(path, fn)
    FIGURES["fuzz: mutated index opened"] += 1
    with address_space_limit():
        try:
            ar = archive.open(path)
        except ArchiveError:
            shutil.rmtree(path)
            return
        try:
            wrong = []
            for i in range(len(ar)):
                try:
                    if i >= len(fps) or _fingerprint(ar[i]) != fps[i]:
                        wrong.append(i)
                except ArchiveError:
                    pass
            for k in range(40):
                try:
                    ar.get(f"k{k}")
                except ArchiveError:
                    pass
            try:
                list(ar.scan(where="i > 20 and s != 'v30'"))
            except ArchiveError:
                pass
            problems = ar.verify()
            if table not in ("keys", "redirect"):
                assert not (wrong or len(ar) != len(fps)) or problems, f"positions {wrong[:5]} wrong, verify clean"
        finally:
            ar.close()
    shutil.rmtree(path)
