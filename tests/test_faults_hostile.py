"""Hostile files: hand-crafted index entries and chunks, decompression bombs, and fuzzing of
chunk decoding and of opening an archive whose index values are mutated.

The hand-crafted cases run in a child under a 2 GiB address-space limit (tests/faults/child.py
``read``): whatever the entry claims, the child ends normally, every error is an ArchiveError,
and either the archive refuses to open (CorruptIndexError) or ``verify()`` names the problem.
The fuzz tests run in this process under the same kind of limit (``address_space_limit``).
"""
from __future__ import annotations

import contextlib
import json
import random
import resource
import shutil
import struct
import zlib
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings, strategies as st

import archive
from archive.codec import registry
from archive.codec.chunk import HEADER, MAGIC, MAX_RAW_BYTES, decode_chunk
from archive.codec.shred import SLOT_KIND, to_array
from archive.errors import ArchiveError, CorruptChunkError
from archive.index import keyruns
from archive.index.records import (
    FILE_VALUE, GROUP_HEAD, U32, U32U32, U64, encode_key, pack_group, unpack_group,
)
from tests.faults.child import Forker, _fingerprint
from tests.faults.damage import Reference, build, lmdb_tables, read

FIGURES: Counter = Counter()
KIND_CODE = {k: i + 1 for i, k in enumerate(registry.KINDS)}


@pytest.fixture(scope="module")
def forker():
    f = Forker()
    yield f
    f.close()
    print("\nhostile figures:", dict(FIGURES))


@pytest.fixture(scope="module")
def ref(tmp_path_factory) -> Reference:
    return build(tmp_path_factory.mktemp("ref") / "a")


@contextlib.contextmanager
def address_space_limit(extra: int = 2 << 30):
    """Cap this process's address space at its current size + ``extra`` (a decoder that
    allocates from a hostile size fails with MemoryError instead of eating the machine)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    limit = vm + extra if hard == resource.RLIM_INFINITY else min(vm + extra, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


# --------------------------------------------------------------------------- crafted entries
def edit(path: Path, fn: Callable[[Any, dict], None]) -> None:
    env, dbs = lmdb_tables(path)
    try:
        with env.begin(write=True) as txn:
            fn(txn, dbs)
    finally:
        env.close()


def first(txn, db) -> tuple[bytes, bytes]:
    with txn.cursor(db=db) as cur:
        assert cur.first()
        return cur.key(), cur.value()


def last(txn, db) -> tuple[bytes, bytes]:
    with txn.cursor(db=db) as cur:
        assert cur.last()
        return cur.key(), cur.value()


def segtab(i: int, value: int) -> Callable:
    """Set element ``i`` of the first segment table entry ((offset, length) pairs)."""
    def fn(txn, d):
        k, v = first(txn, d["segtab"])
        arr = np.frombuffer(v, dtype="<u8").copy()
        arr[i] = value
        txn.put(k, arr.tobytes(), db=d["segtab"])
    return fn


def group(mod: Callable[[np.ndarray], Any], which: Callable = first) -> Callable:
    """Rewrite a group entry: ``mod(refs)`` edits its chunk references in place, or returns
    (first_row, rows) to change its head."""
    def fn(txn, d):
        k, v = which(txn, d["groups"])
        f, n, refs = unpack_group(v)
        refs = refs.copy()
        head = mod(refs)
        if head is not None:
            f, n = head
        txn.put(k, pack_group(f, n, refs), db=d["groups"])
    return fn


def put(table: str, key: bytes | Callable, value: bytes | Callable) -> Callable:
    def fn(txn, d):
        k = key(txn, d) if callable(key) else key
        v = value(txn, d) if callable(value) else value
        txn.put(k, v, db=d[table])
    return fn


def first_with(txn, db, prefix: bytes) -> tuple[bytes, bytes]:
    with txn.cursor(db=db) as cur:
        assert cur.set_range(prefix) and cur.key().startswith(prefix)
        return cur.key(), cur.value()


def flip_last_byte(txn, db, prefix: bytes) -> tuple[bytes, bytes]:
    k, v = first_with(txn, db, prefix)
    return k, v[:-1] + bytes([v[-1] ^ 0x40])


def key_entry(key: str, slot: Callable) -> Callable:
    """Add a key run holding one crafted entry: ``key``'s true fingerprint, a chosen slot."""
    def fn(txn, d):
        man = keyruns.read_manifest(txn, d["keys"])
        fp = np.array([keyruns.fingerprint(man.salt, encode_key(key))], dtype=np.uint32)
        keyruns.write_run(txn, d["keys"], man.next_run, fp, np.array([slot(txn, d)], dtype=np.int64))
        runs = np.concatenate([man.runs, np.array([(man.next_run, 1)], dtype=keyruns.MANIFEST_RUN)])
        txn.put(keyruns.MANIFEST_KEY, keyruns.Manifest(man.salt, man.next_run + 1, runs).pack(), db=d["keys"])
    return fn


def rows_huge(txn, d):
    k, v = last(txn, d["groups"])
    f, n, refs = unpack_group(v)
    txn.put(k, pack_group(f, 2**31, refs), db=d["groups"])
    state = json.loads(txn.get(b"state", db=d["meta"]))
    state["rows"] = f + 2**31
    txn.put(b"state", json.dumps(state).encode(), db=d["meta"])


def redirect_to_live(txn, d):
    k, _ = first(txn, d["redirect"])
    txn.put(k, (1).to_bytes(8, "little"), db=d["redirect"])  # row 1: a live, unkeyed record


def colchunk_parent_self(txn, d):
    """A column chunk whose parent is itself (a cycle): our model derives parents from paths,
    so the stored parent is cross-checked rather than followed."""
    for k, v in txn.cursor(db=d["colchunks"]):
        col = U32.unpack(k[:4])[0]
        if col > 3:
            txn.put(k, v[:12] + struct.pack("<I", col) + v[16:], db=d["colchunks"])
            return


def all_colchunks(fn):
    def edit_all(txn, d):
        for k, v in list(txn.cursor(db=d["colchunks"])):
            txn.put(k, fn(v), db=d["colchunks"])
    return edit_all


#: name -> (edit, whether the archive must refuse to open)
CASES: dict[str, tuple[Callable, bool]] = {
    "chunk offset past the file end": (segtab(2, 10**9), False),
    "chunk offset+length overflows u64": (segtab(3, 2**64 - 5), False),
    "chunk offset at u64 max": (segtab(2, 2**64 - 1), False),
    "chunk length zero": (segtab(3, 0), False),
    "chunk offset shifted by one": (segtab(2, 17), False),
    "segment table of odd length": (lambda t, d: t.put(first(t, d["segtab"])[0], b"x" * 24, db=d["segtab"]), True),
    "file length 2**63": (lambda t, d: t.put(first(t, d["files"])[0], FILE_VALUE.pack(2**63, FILE_VALUE.unpack(first(t, d["files"])[1])[1]), db=d["files"]), False),
    "file chunk count absurd": (lambda t, d: t.put(first(t, d["files"])[0], FILE_VALUE.pack(100, 2**32 - 1), db=d["files"]), True),
    "file entry truncated": (put("files", lambda t, d: first(t, d["files"])[0], b"abc"), True),
    "file entry removed": (lambda t, d: t.delete(first(t, d["files"])[0], db=d["files"]), False),
    "group names an unknown column": (group(lambda r: r["col"].__setitem__(0, 10**6)), False),
    "group names an unknown file": (group(lambda r: r["file"].__setitem__(0, 77)), False),
    "group names chunk 2**32-1": (group(lambda r: r["seg"].__setitem__(0, 2**32 - 1)), False),
    "group claims 2**32-1 items in a chunk": (group(lambda r: r["count"].__setitem__(0, 2**32 - 1)), False),
    "group swaps two columns": (group(lambda r: r["col"].__setitem__(slice(0, 2), r["col"][[1, 0]])), False),
    "group lists a column twice": (group(lambda r: r["col"].__setitem__(1, r["col"][0])), False),
    "group drops a chunk": (lambda t, d: t.put(first(t, d["groups"])[0], (lambda f, n, refs: pack_group(f, n, refs[1:]))(*unpack_group(first(t, d["groups"])[1])), db=d["groups"]), False),
    "group claims more rows than its columns hold": (group(lambda r: (0, 17)), True),
    "group entry truncated": (put("groups", lambda t, d: first(t, d["groups"])[0], lambda t, d: first(t, d["groups"])[1][:-3]), True),
    "group claims 2**32-1 chunks": (put("groups", lambda t, d: first(t, d["groups"])[0], GROUP_HEAD.pack(0, 16, 2**32 - 1)), True),
    "group of 2**31 rows": (rows_huge, True),
    "state not JSON": (put("meta", b"state", b"{nope"), True),
    "state a list": (put("meta", b"state", b"[1]"), True),
    "state rows negative": (put("meta", b"state", b'{"rows": -5}'), True),
    "settings out of range": (put("meta", b"settings", b'{"group_rows": -1}'), True),
    "format not a number": (put("meta", b"format", b"zz"), True),
    "format from the future": (put("meta", b"format", b"99"), True),
    "column description not UTF-8": (put("columns", lambda t, d: first(t, d["columns"])[0], b"\xff["), True),
    "column of unknown slot": (put("columns", lambda t, d: first(t, d["columns"])[0], b'[[], "zzz"]'), True),
    "column path of ints": (put("columns", lambda t, d: first(t, d["columns"])[0], b'[[5], "tag"]'), True),
    "column ids sparse": (put("columns", U32.pack(999), b'[["q"], "tag"]'), True),
    "column key short": (put("columns", b"\x01", b'[["q"], "tag"]'), True),
    "shape not a list": (put("shapes", lambda t, d: first(t, d["shapes"])[0], b"7"), True),
    "shape of non-str keys": (put("shapes", lambda t, d: first(t, d["shapes"])[0], b"[1, 2]"), True),
    "shape missing keys": (put("shapes", lambda t, d: first(t, d["shapes"])[0], b'["b"]'), False),
    "shape with an extra key": (put("shapes", lambda t, d: first(t, d["shapes"])[0], lambda t, d: first(t, d["shapes"])[1][:-1] + b', "zz"]'), False),
    "deleted rows past the end": (lambda t, d: [t.put(U64.pack(10**6 + i), b"", db=d["dead"]) for i in range(200)], True),
    "deleted row key short": (put("dead", b"\x01", b""), True),
    "redirect past the end": (put("redirect", lambda t, d: first(t, d["redirect"])[0], (10**9).to_bytes(8, "little")), True),
    "redirect to u64 max": (put("redirect", lambda t, d: first(t, d["redirect"])[0], (2**64 - 1).to_bytes(8, "little")), True),
    "redirect to a live row": (redirect_to_live, False),
    "key maps past the end": (key_entry("key4", lambda t, d: 10**9), False),
    "key names a row holding another key": (key_entry("key4", lambda t, d: 1), False),
    "key run block garbled": (lambda t, d: t.put(*flip_last_byte(t, d["keys"], b"X"), db=d["keys"]), False),
    "key run head truncated": (lambda t, d: t.put(first_with(t, d["keys"], b"R")[0], b"\x01", db=d["keys"]), False),
    "key manifest garbled": (put("keys", keyruns.MANIFEST_KEY, b"KIX1junk"), False),
    "key source garbled": (lambda t, d: t.put(first_with(t, d["keys"], b"G")[0], b"\x09\x00", db=d["keys"]), False),
    "chunk entries truncated": (all_colchunks(lambda v: b"x"), False),
    "chunk statistics not JSON": (all_colchunks(lambda v: v[:16] + b"[1"), False),
    "chunk statistics lie": (all_colchunks(lambda v: v[:16] + b'{"min": 1000, "max": 1001}'), False),
    "chunk parent is itself": (colchunk_parent_self, False),
    "attrs not JSON": (put("meta", b"attrs", b"{"), True),
    "a table dropped": (lambda t, d: t.drop(d["redirect"], delete=True), True),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_crafted_index_entry(forker, ref, tmp_path, name):
    fn, refuses = CASES[name]
    path = ref.copy(tmp_path / "a")
    edit(path, fn)
    res = read(forker, ref, path, max_positions=len(ref.items))
    FIGURES["crafted index entries"] += 1
    if refuses:
        assert "open_error" in res, f"{name}: the archive opened"
        assert res["open_error"][0] in ("CorruptIndexError", "ArchiveVersionError", "ArchiveError"), res["open_error"]
        return
    assert "open_error" not in res, res["open_error"]
    assert res["verify"], f"{name}: verify found nothing"
    for kind, *_ in list(res["errors"].values()) + list(res["key_errors"].values()):
        assert kind in ("CorruptChunkError", "CorruptIndexError"), kind
    for where in ("scan", "where"):
        assert isinstance(res[where], int) or res[where][0] in ("CorruptChunkError", "CorruptIndexError")


# --------------------------------------------------------------------------- crafted chunks
def chunk(kind: str, count: int, payload: bytes, *, compressed_body: bytes | None = None,
          raw_len: int | None = None) -> bytes:
    """Frame a payload (or a given zstd body) as a chunk with a valid checksum."""
    body = payload if compressed_body is None else compressed_body
    flags = 0 if compressed_body is None else 1
    raw = len(payload) if raw_len is None else raw_len
    return HEADER.pack(MAGIC, KIND_CODE[kind], flags, 0, count, raw, len(body), zlib.crc32(body)) + body


def zstd_rle_frame(declared: int | None, blocks: int, block: int = 128 << 10) -> bytes:
    """A zstd frame of ``blocks`` RLE blocks of ``block`` zero bytes (4 bytes each on disk),
    declaring ``declared`` bytes of content (``None``: no size in the header)."""
    if declared is None:
        head = b"\x28\xb5\x2f\xfd" + bytes([0x00]) + bytes([(27 - 10) << 3])  # window 128 MiB
    else:
        head = b"\x28\xb5\x2f\xfd" + bytes([0xE0]) + struct.pack("<Q", declared)  # single segment
    out = [head]
    for i in range(blocks):
        last_bit = 1 if i == blocks - 1 else 0
        out.append((last_bit | (1 << 1) | (block << 3)).to_bytes(3, "little") + b"\x00")
    return b"".join(out)


BOMB_4G = zstd_rle_frame(4 << 30, 32768)  # 128 KiB on disk, 4 GiB when honoured


@pytest.mark.parametrize("case", ["declares 4 GiB", "declares nothing", "declares 1000, holds 4 GiB",
                                  "declares the chunk limit", "unknown encoding id", "unknown kind"])
def test_crafted_chunk_decodes_safely(case):
    frames = {
        "declares 4 GiB": (BOMB_4G, 1000),
        "declares nothing": (zstd_rle_frame(None, 32768), 1000),
        "declares 1000, holds 4 GiB": (zstd_rle_frame(1000, 32768), 1000),
        "declares the chunk limit": (zstd_rle_frame(MAX_RAW_BYTES, 2048), MAX_RAW_BYTES),
    }
    with address_space_limit():
        if case in frames:
            frame, raw = frames[case]
            data = chunk("int", 10, b"", compressed_body=frame, raw_len=raw)
        elif case == "unknown encoding id":
            data = chunk("int", 10, bytes([250]) + bytes(80))
        else:
            data = bytearray(chunk("int", 10, bytes([1]) + bytes(80)))
            data[4] = 77
            data = bytes(data)
        with pytest.raises(CorruptChunkError):
            decode_chunk(data)
    FIGURES["crafted chunks (bombs, unknown ids) refused"] += 1


def replace_chunk(path: Path, ref: Reference, g: int, make: Callable[[str, int, int], bytes]) -> tuple[str, int]:
    """Put ``make(kind, count, length)``'s bytes where the first chunk of group ``g`` was: in
    place when they fit, else appended to the file with the index entries moved to them."""
    with archive.open(path) as ar:
        v = ar._view
        r = v.group_refs[g][0]
        fv = v.files[int(r["file"])]
        seg = int(r["seg"])
        off, ln = (int(x) for x in fv.segments[seg])
        kind = SLOT_KIND[v.columns[int(r["col"])][1]]
        data = make(kind, int(r["count"]), ln)
        name, fno, length = fv.path.name, fv.file_no, fv.length
    if len(data) == ln:
        with open(path / name, "r+b") as f:
            f.seek(off)
            f.write(data)
        return name, off
    with open(path / name, "ab") as f:
        f.write(data)

    def move(txn, d):
        count = FILE_VALUE.unpack(txn.get(U32.pack(fno), db=d["files"]))[1]
        txn.put(U32.pack(fno), FILE_VALUE.pack(length + len(data), count), db=d["files"])
        for k, val in txn.cursor(db=d["segtab"]):
            f, start = U32U32.unpack(k)
            arr = np.frombuffer(val, dtype="<u8").reshape(-1, 2).copy()
            if f == fno and start <= seg < start + len(arr):
                arr[seg - start] = (length, len(data))
                txn.put(k, arr.tobytes(), db=d["segtab"])
                return
        raise AssertionError("segment table entry not found")
    edit(path, move)
    return name, length


@pytest.mark.parametrize("case", ["4 GiB bomb", "bomb without declared size", "unknown encoding id"])
def test_hostile_chunk_in_archive(forker, ref, tmp_path, case):
    """A chunk swapped for a decompression bomb or an unknown encoding: reading it raises
    CorruptChunkError naming its file and offset, memory stays bounded (the child runs under
    a 2 GiB limit), every other group reads exactly, verify names the chunk."""
    path = ref.copy(tmp_path / "a")
    g = 3

    def make(kind, count, length):
        if case == "unknown encoding id":
            return chunk(kind, count, bytes([250]) + bytes(length - 25))
        frame = BOMB_4G if case == "4 GiB bomb" else zstd_rle_frame(None, 32768)
        return chunk(kind, count, b"", compressed_body=frame, raw_len=1000)
    name, off = replace_chunk(path, ref, g, make)
    res = read(forker, ref, path)
    for i, fp in enumerate(ref.fingerprints):
        if int(ref.group_of_position[i]) != g:
            assert res["records"][str(i)] == fp
    errors = [e for i, e in res["errors"].items() if int(ref.group_of_position[int(i)]) == g]
    assert errors and all(e[0] == "CorruptChunkError" and Path(e[2]).name == name and e[3] == off
                          for e in errors), errors
    assert [p for p in res["verify"] if f"{name} at offset {off}" in p], res["verify"]
    FIGURES["hostile chunks placed in archives"] += 1


# --------------------------------------------------------------------------- fuzzing
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
    with archive.open(path, "a", group_rows=8, chunk_items=8, segment_bytes=4096) as ar:
        ar.extend([{"i": i, "s": f"v{i}", "l": [i, 1.5, None][: i % 4], "d": {"x": bool(i % 2)}}
                   for i in range(40)], keys=[f"k{i}" for i in range(40)])
        ar.commit()
        for i in range(0, 40, 7):
            ar.put(f"k{i}", {"i": i, "new": rng.random()})
        for i in range(3, 40, 9):
            ar.delete(f"k{i}")
    with archive.open(path) as ar:
        return path, [_fingerprint(r) for r in ar.scan()]


FUZZ_TABLES = ("files", "segtab", "groups", "colchunks", "columns", "shapes", "redirect", "meta", "keys")


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
    edit(path, fn)
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
