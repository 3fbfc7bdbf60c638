"""Hostile bundles inside a real archive: plant any bytes as a new segment of a segment file
and point index references at them, going through liblmdb (no archive handle may be open on
the archive meanwhile); the hostile bundles and reference edits of
tests/test_bundles_adversarial.py."""
from __future__ import annotations

import random
import string
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import zstandard

import archive
from archive.codec.chunk import HEADER
from archive.index.records import (
    FILE_VALUE,
    NO_BUNDLE,
    U32,
    U32U32,
    U64,
    GroupEntry,
    pack_segments,
)
from archive.storage.bundles import (
    BUNDLE_HEADER,
    BUNDLE_MAGIC,
    MAX_BUNDLE_RAW,
    pack_bundle,
)
from archive.storage.segments import segment_name
from tests.faults.damage import edit_index
from tests.faults.hostile import BOMB_4G


def hostile_records(n: int) -> list[dict]:
    """Records with many small columns (bundled) and a random text (stored alone)."""
    rng = random.Random(3)
    return [{"i": i, "flag": i % 3 == 0, "tags": ["t"] * (i % 4), "w": {f"c{j}": i * j for j in range(8)},
             "text": "".join(rng.choice(string.ascii_letters) for _ in range(1500))} for i in range(n)]


def bundles_by_group(path: Path) -> list[list[tuple[int, int]]]:
    """Per group, the ``(file, segment)`` of each of its bundles, in directory order."""
    with archive.open(path) as ar:
        out = []
        for refs in ar._view.group_refs:
            seen = dict.fromkeys((int(r["file"]), int(r["seg"])) for r in refs if int(r["at"]) != NO_BUNDLE)
            out.append(list(seen))
        return out


def segment_bytes(path: Path, fno: int, seg: int) -> bytes:
    """The stored bytes of segment ``seg`` of file ``fno`` (as the index places it)."""
    with archive.open(path) as ar:
        return bytes(ar._view.files[fno].chunk(seg))


def plant(path: Path, fno: int, data: bytes) -> int:
    """Append ``data`` to segment file ``fno`` as a new committed segment; its number."""
    seg = [0]

    def add(txn: Any, dbs: dict[str, Any]) -> None:
        length, count = FILE_VALUE.unpack(txn.get(U32.pack(fno), db=dbs["files"]))
        with open(path / segment_name(fno), "r+b") as f:
            f.seek(length)
            f.write(data)
            f.truncate()
        txn.put(U32U32.pack(fno, count), pack_segments(np.array([[length, len(data)]])), db=dbs["segtab"])
        txn.put(U32.pack(fno), FILE_VALUE.pack(length + len(data), count + 1), db=dbs["files"])
        seg[0] = count
    edit_index(path, add)
    return seg[0]


def rewrite_refs(path: Path, group: int, fn: Callable[[np.ndarray], None]) -> None:
    """Let ``fn`` change group ``group``'s chunk references (a CHUNK_REF array) in place and
    store the group's directory with them."""
    def rewrite(txn: Any, dbs: dict[str, Any]) -> None:
        key = U64.pack(group)
        e = GroupEntry.unpack(txn.get(key, db=dbs["groups"]), group)
        refs = e.refs.copy()
        fn(refs)
        txn.put(key, GroupEntry(e.first_row, e.rows, refs, e.first, e.parent, bytes(e.stats_json)).pack(),
                db=dbs["groups"])
    edit_index(path, rewrite)


def framed(raw_len: int, body: bytes, crc: int | None = None) -> bytes:
    """A bundle header (claiming ``raw_len``, with this crc or the right one) + ``body``."""
    return BUNDLE_HEADER.pack(BUNDLE_MAGIC, raw_len, len(body), zlib.crc32(body) if crc is None else crc) + body


def lying_member(raw: bytes, at: int, field: int, delta: int) -> bytes:
    """A bundle of ``raw`` with field ``field`` of the header of its member at ``at`` moved by
    ``delta`` (4 count, 5 raw_len, 6 body_len, 7 crc)."""
    head = list(HEADER.unpack_from(raw, at))
    head[field] = (head[field] + delta) % (1 << 32)
    return pack_bundle([raw[:at] + HEADER.pack(*head) + raw[at + HEADER.size:]], 3)


#: name -> a replacement for the bundle of a member aimed at, from the bundle's stored bytes, its
#: members' bytes and the member's place (the members' references keep their places).
BUNDLES: dict[str, Callable[[bytes, bytes, int], bytes]] = {
    "bad magic": lambda seg, raw, at: b"\x89XXX" + seg[4:],
    "bad crc": lambda seg, raw, at: framed(len(raw), seg[16:], crc=zlib.crc32(seg[16:]) ^ 1),
    "raw_len short": lambda seg, raw, at: framed(len(raw) - 1, seg[16:]),
    "raw_len long": lambda seg, raw, at: framed(len(raw) + 1, seg[16:]),
    "raw_len past the limit": lambda seg, raw, at: framed(MAX_BUNDLE_RAW + 1, seg[16:]),
    "bomb": lambda seg, raw, at: framed(MAX_BUNDLE_RAW, BOMB_4G),
    "frame without size": lambda seg, raw, at: framed(
        len(raw), zstandard.ZstdCompressor(write_content_size=False).compress(raw)),
    "truncated frame": lambda seg, raw, at: framed(len(raw), seg[16:-4]),
    "members shifted": lambda seg, raw, at: pack_bundle([raw[1:] + b"\0"], 3),
    "member body_len lies": lambda seg, raw, at: lying_member(raw, at, 6, 7),
    "member raw_len lies": lambda seg, raw, at: lying_member(raw, at, 5, 1 << 30),
    "member count lies": lambda seg, raw, at: lying_member(raw, at, 4, 1),
    "member crc lies": lambda seg, raw, at: lying_member(raw, at, 7, 1),
}


def edit_refs(mask_of: Callable[[np.ndarray], np.ndarray],
              **fields: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], None]:
    """An edit of a group's references: set ``fields`` of those ``mask_of`` selects (at least one)."""
    def edit(refs: np.ndarray) -> None:
        m = mask_of(refs)
        assert m.any(), "the damage must hit a reference"
        for name, fn in fields.items():
            refs[name][m] = fn(refs[m])
    return edit


def same_col(ref: np.void) -> Callable[[np.ndarray], np.ndarray]:
    """Selects the references of ``ref``'s column."""
    return lambda refs: refs["col"] == ref["col"]


def const(v: int) -> Callable[[np.ndarray], np.ndarray]:
    """A field value ``v`` for every selected reference."""
    return lambda r: np.full(len(r), v, dtype=np.uint32)


#: name -> an edit of a group's references, from the reference aimed at and the
#: (file, segment) of group 0's first bundle
REFS: dict[str, Callable[[np.void, tuple[int, int]], Callable[[np.ndarray], None]]] = {
    "at inside a member": lambda t, b0: edit_refs(same_col(t), at=lambda r: r["at"] + 8),
    "stored too long": lambda t, b0: edit_refs(same_col(t), stored=lambda r: r["stored"] + 3),
    "stored too short": lambda t, b0: edit_refs(same_col(t), stored=lambda r: r["stored"] - 1),
    "stored huge": lambda t, b0: edit_refs(same_col(t), stored=const(0xFFFFFFF0)),
    "at huge": lambda t, b0: edit_refs(same_col(t), at=const(0xFFFFFFF0)),
    "member read as a chunk": lambda t, b0: edit_refs(same_col(t), at=const(NO_BUNDLE)),
    "chunk read as a member": lambda t, b0: edit_refs(lambda refs: refs["at"] == NO_BUNDLE, at=const(0)),
    "in another group's bundle": lambda t, b0: edit_refs(lambda refs: refs["at"] != NO_BUNDLE,
                                                     file=const(b0[0]), seg=const(b0[1])),
}
