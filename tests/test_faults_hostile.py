"""Hostile files: hand-crafted index entries, hand-crafted chunks and decompression bombs.

The cases placed in an archive run in a child under a 2 GiB address-space limit
(tests/faults/tasks.py ``read``): whatever the entry claims, the child ends normally, every
error is an ArchiveError, and either the archive refuses to open (CorruptIndexError) or
``verify()`` names the problem.  Lone crafted chunks are decoded in this process under the same
kind of limit (``address_space_limit``).  Fuzzing of chunks and index values:
``test_faults_fuzz.py``.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import archive
from archive.codec.chunk import MAX_RAW_BYTES, decode_chunk
from archive.codec.shred import SLOT_KIND
from archive.errors import CorruptChunkError
from archive.index import keyruns
from archive.index import packed
from archive.index.records import (
    FILE_VALUE, GROUP_HEAD, U32, U32U32, U64, GroupEntry, encode_key, pack_defs, pack_segments, unpack_defs,
    unpack_segments,
)
from tests.faults.damage import Reference, edit_index, read
from tests.faults.fixtures import forker_fixture, reference_fixture
from tests.faults.hostile import BOMB_4G, address_space_limit, chunk, zstd_rle_frame

FIGURES: Counter = Counter()
forker = forker_fixture("hostile", FIGURES)
ref = reference_fixture()


# --------------------------------------------------------------------------- crafted entries
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
        arr = unpack_segments(v, "segtab").reshape(-1).copy()
        arr[i] = value
        txn.put(k, pack_segments(arr), db=d["segtab"])
    return fn


def group(mod: Callable[[np.ndarray], Any], which: Callable = first) -> Callable:
    """Rewrite a group entry: ``mod(refs)`` edits its chunk references in place, or returns
    (first_row, rows) to change its head."""
    def fn(txn, d):
        k, v = which(txn, d["groups"])
        e = GroupEntry.unpack(v, U64.unpack(k)[0])
        refs = e.refs.copy()
        head = mod(refs)
        f, n = head if head is not None else (e.first_row, e.rows)
        txn.put(k, replace(e, first_row=f, rows=n, refs=refs).pack(), db=d["groups"])
    return fn


def directory(**change: Callable[[GroupEntry], Any]) -> Callable:
    """Rewrite every group's directory: ``field=fn(entry)`` replaces that field."""
    def fn(txn, d):
        for k, v in list(txn.cursor(db=d["groups"])):
            e = GroupEntry.unpack(v, U64.unpack(k)[0])
            txn.put(k, replace(e, **{name: f(e) for name, f in change.items()}).pack(), db=d["groups"])
    return fn


def drop_first_chunk(e: GroupEntry) -> GroupEntry:
    return GroupEntry(e.first_row, e.rows, e.refs[1:], e.first[1:], e.parent[1:],
                      json.dumps(e.stats()[1:]).encode())


def defs(table: str, edit: Callable[[list], list], key: bytes | None = None) -> Callable:
    """Rewrite the first batch of column or shape definitions: ``edit(items)`` -> new items
    (stored under ``key`` instead when given)."""
    def fn(txn, d):
        k, v = first(txn, d[table])
        txn.put(key or k, pack_defs(edit(unpack_defs(v, table))), db=d[table])
    return fn


def shape_defs(edit: Callable[[list], list]) -> Callable:
    """Rewrite the key lists of the first node in the first batch of shapes."""
    return defs("shapes", lambda batch: [batch[0][:2] + [edit(batch[0][2])]] + batch[1:])


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
    e = GroupEntry.unpack(v, U64.unpack(k)[0])
    txn.put(k, replace(e, rows=2**31).pack(), db=d["groups"])
    state = json.loads(txn.get(b"state", db=d["meta"]))
    state["rows"] = e.first_row + 2**31
    txn.put(b"state", json.dumps(state).encode(), db=d["meta"])


def redirect_to_live(txn, d):
    k, _ = first(txn, d["redirect"])
    txn.put(k, (1).to_bytes(8, "little"), db=d["redirect"])  # row 1: a live, unkeyed record


def parent_self(e: GroupEntry) -> np.ndarray:
    """Chunks whose parent is their own column (a cycle): our model derives parents from paths,
    so the stored parent is cross-checked rather than followed."""
    return np.where(e.refs["col"] > 3, e.refs["col"], e.parent).astype("<u4")


#: name -> (edit, whether the archive must refuse to open)
CASES: dict[str, tuple[Callable, bool]] = {
    "chunk offset past the file end": (segtab(2, 10**9), False),
    "chunk offset+length overflows u64": (segtab(3, 2**64 - 5), False),
    "chunk offset at u64 max": (segtab(2, 2**64 - 1), False),
    "chunk length zero": (segtab(3, 0), False),
    "chunk offset shifted by one": (segtab(2, 17), False),
    "segment table of odd length": (lambda t, d: t.put(first(t, d["segtab"])[0], packed.pack(b"x" * 24), db=d["segtab"]), True),
    "segment table not packed": (lambda t, d: t.put(first(t, d["segtab"])[0], b"x" * 32, db=d["segtab"]), True),
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
    "group drops a chunk": (lambda t, d: t.put(first(t, d["groups"])[0], drop_first_chunk(GroupEntry.unpack(first(t, d["groups"])[1], 0)).pack(), db=d["groups"]), False),
    "group claims more rows than its columns hold": (group(lambda r: (0, 17)), True),
    "group entry truncated": (put("groups", lambda t, d: first(t, d["groups"])[0], lambda t, d: first(t, d["groups"])[1][:-3]), True),
    "group entry head only": (put("groups", lambda t, d: first(t, d["groups"])[0], lambda t, d: first(t, d["groups"])[1][:GROUP_HEAD.size]), True),
    "group claims 2**32-1 chunks": (put("groups", lambda t, d: first(t, d["groups"])[0], lambda t, d: GROUP_HEAD.pack(0, 16, 2**32 - 1, 0) + first(t, d["groups"])[1][GROUP_HEAD.size:]), True),
    "group directory bit flipped": (put("groups", lambda t, d: first(t, d["groups"])[0], lambda t, d: (lambda v: v[:-6] + bytes([v[-6] ^ 0x10]) + v[-5:])(first(t, d["groups"])[1])), True),
    "group directory declares 4 GiB": (put("groups", lambda t, d: first(t, d["groups"])[0], GROUP_HEAD.pack(0, 16, 2**26, 2**31) + BOMB_4G), True),
    "group of 2**31 rows": (rows_huge, True),
    "state not JSON": (put("meta", b"state", b"{nope"), True),
    "state a list": (put("meta", b"state", b"[1]"), True),
    "state rows negative": (put("meta", b"state", b'{"rows": -5}'), True),
    "settings out of range": (put("meta", b"settings", b'{"group_rows": -1}'), True),
    "format not a number": (put("meta", b"format", b"zz"), True),
    "format from the future": (put("meta", b"format", b"99"), True),
    "column definitions not packed": (put("columns", lambda t, d: first(t, d["columns"])[0], b'[[[], "tag"]]'), True),
    "column definitions not UTF-8": (put("columns", lambda t, d: first(t, d["columns"])[0], packed.pack(b"\xff[")), True),
    "column definitions empty": (defs("columns", lambda items: []), True),
    "column of unknown slot": (defs("columns", lambda items: [[0, [], "zzz"]] + items[1:]), True),
    "column path of ints": (defs("columns", lambda items: [[0, [5], "tag"]] + items[1:]), True),
    "column definition not a triple": (defs("columns", lambda items: [["tag"]] + items[1:]), True),
    "column keeps more than the previous path": (defs("columns", lambda items: items[:1] + [[9] + items[1][1:]] + items[2:]), True),
    "column keeps a negative prefix": (defs("columns", lambda items: [[-1, [], "tag"]] + items[1:]), True),
    "column keeps a prefix given as true": (defs("columns", lambda items: items[:1] + [[True] + items[1][1:]] + items[2:]), True),
    "column ids sparse": (put("columns", U32.pack(999), pack_defs([[0, ["q"], "tag"]])), True),
    "column key short": (put("columns", b"\x01", pack_defs([[0, ["q"], "tag"]])), True),
    "shape not a list": (shape_defs(lambda items: [7] + items[1:]), True),
    "shape of non-str keys": (shape_defs(lambda items: [[1, 2]] + items[1:]), True),
    "shape missing keys": (shape_defs(lambda items: [["b"]] + items[1:]), False),
    "shape with an extra key": (shape_defs(lambda items: [items[0] + ["zz"]] + items[1:]), False),
    "shape batch item not a triple": (defs("shapes", lambda batch: [batch[0][:2]] + batch[1:]), True),
    "shape batch item of a str column id": (defs("shapes", lambda batch: [["0"] + batch[0][1:]] + batch[1:]), True),
    "shapes of a column that holds no shapes": (defs("shapes", lambda batch: [[0] + batch[0][1:]] + batch[1:]), True),
    "shape ids not dense": (defs("shapes", lambda batch: [batch[0][:1] + [5] + batch[0][2:]] + batch[1:]), True),
    "shape batch key short": (put("shapes", b"\x01", pack_defs([])), True),
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
    "chunk statistics not JSON": (directory(stats_json=lambda e: b"[1"), False),
    "chunk statistics too few": (directory(stats_json=lambda e: json.dumps(e.stats()[1:]).encode()), False),
    "chunk statistics lie": (directory(stats_json=lambda e: json.dumps([{"min": 1000, "max": 1001}] * len(e.refs)).encode()), False),
    "chunk statistics NaN bounds": (directory(stats_json=lambda e: b"[" + b",".join([b'{"min": NaN, "max": 1}'] * len(e.refs)) + b"]"), False),
    "chunk first items shifted": (directory(first=lambda e: (e.first + 1).astype("<u8")), False),
    "chunk parent is itself": (directory(parent=parent_self), False),
    "attrs not JSON": (put("meta", b"attrs", b"{"), True),
    "a table dropped": (lambda t, d: t.drop(d["redirect"], delete=True), True),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_crafted_index_entry(forker, ref, tmp_path, name):
    fn, refuses = CASES[name]
    path = ref.copy(tmp_path / "a")
    edit_index(path, fn)
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
    """Put ``make(kind, count, length)``'s bytes where the first value chunk (not a tag column:
    a read may know a tag column's content from the chunk counts and skip it) of group ``g``
    was: in place when they fit, else appended to the file with the index entries moved."""
    with archive.open(path) as ar:
        v = ar._view
        r = next(r for r in v.group_refs[g] if v.columns[int(r["col"])][1] != "tag")
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
            arr = unpack_segments(val, "segtab").copy()
            if f == fno and start <= seg < start + len(arr):
                arr[seg - start] = (length, len(data))
                txn.put(k, pack_segments(arr), db=d["segtab"])
                return
        raise AssertionError("segment table entry not found")
    edit_index(path, move)
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
