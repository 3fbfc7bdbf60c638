"""The key → slot map as immutable sorted runs stored inside LMDB (the ``keys`` table).

Each entry is ``(fingerprint, slot)``: the fingerprint is a salted 32-bit BLAKE2b of the
encoded key (:func:`fingerprint`; the salt is random per archive, so chosen keys cannot force
collisions), the slot the key's row.  Fingerprints are not unique and not trusted: every
candidate a lookup finds is verified against the key stored with its group (see
:mod:`archive.index.keys`), so the map is exact.  A deleted key needs no tombstone: its slot
is in the ``dead`` table, and candidates with dead slots are skipped (merges drop them).

Entries in the ``keys`` table (integers in keys big-endian, in values little-endian):

===========================  ==================================================================
key                          value
===========================  ==================================================================
``M``                        manifest: ``KIX1``, salt (16 bytes), next run id u64, run count
                             u32, then per run, oldest first: run id u64, entry count u64
``R`` + run id u64           run head: entry count u64, block count u32, then per block
                             (:data:`FENCE`) first fingerprint, entry count, extent, offset and
                             length in the extent, crc32 of the stored block
``X`` + run id u64 + ext u32 extent: stored blocks back to back (at most about 64 KiB, so an
                             extent fills LMDB overflow pages with little slack)
``G`` + group u64            the group's key source (:mod:`archive.index.keys`)
===========================  ==================================================================

``M`` and ``R`` values end in a crc32 (u32) of the rest.  A stored block is a zstd frame (content size declared) of: the gaps between consecutive
fingerprints (the first gap 0: the block's first fingerprint is in its fence) as u32 in 4 byte planes, then u8 slot width w (1, 2, 4 or 8), u64
base slot, and ``slot - base`` as w-byte integers in w byte planes.  Entries are sorted by
(fingerprint, slot).  A commit writes its new keys as one run and then merges the newest two
runs while the older is at most :data:`MERGE_RATIO` times the newer, so runs shrink
geometrically from oldest to newest and a lookup touches O(log n) of them.
"""
from __future__ import annotations

import hashlib
import os
import struct
import zlib
from dataclasses import dataclass
from typing import Any, Final, Iterable

import lmdb
import numpy as np
import zstandard

from archive.codec.zstd_contexts import decompressor
from archive.errors import CorruptIndexError

MANIFEST_KEY: Final = b"M"
MANIFEST_MAGIC: Final = b"KIX1"
MANIFEST_HEAD: Final = struct.Struct("<4s16sQI")
MANIFEST_RUN: Final = np.dtype([("id", "<u8"), ("n", "<u8")])
RUN_HEAD: Final = struct.Struct("<QI")
#: One block of a run: first fingerprint, entries, and where its bytes lie.
FENCE: Final = np.dtype([("first", "<u4"), ("count", "<u4"), ("ext", "<u4"), ("off", "<u4"),
                         ("len", "<u4"), ("crc", "<u4")])
#: entries per block written (a cold lookup decodes one block); readers accept up to the max
BLOCK_ENTRIES: Final = 512
MAX_BLOCK_ENTRIES: Final = 4096
EXTENT_BYTES: Final = 16 * 4096 - 64
MERGE_RATIO: Final = 2
MAX_RUNS: Final = 64
SALT_BYTES: Final = 16
_WIDTHS: Final = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
_SLOT_HEAD: Final = struct.Struct("<BQ")
_ZSTD_LEVEL: Final = 9
def fingerprint(salt: bytes, key: bytes) -> int:
    """The 32-bit salted fingerprint of an encoded key."""
    return int.from_bytes(hashlib.blake2b(key, digest_size=4, key=salt).digest(), "little")


def fingerprints(salt: bytes, keys: Iterable[bytes]) -> np.ndarray:
    """:func:`fingerprint` of many keys (copies of one keyed hash state: the salt's block is
    hashed once, not per key)."""
    new = hashlib.blake2b(digest_size=4, key=salt).copy
    digests = []
    for k in keys:
        h = new()
        h.update(k)
        digests.append(h.digest())
    return np.frombuffer(b"".join(digests), dtype="<u4").astype(np.uint32)


def run_key(run: int) -> bytes:
    return b"R" + run.to_bytes(8, "big")


def extent_key(run: int, ext: int) -> bytes:
    return b"X" + run.to_bytes(8, "big") + ext.to_bytes(4, "big")


@dataclass(frozen=True)
class Manifest:
    """The live runs (oldest first) and the archive's fingerprint salt."""

    salt: bytes
    next_run: int
    runs: np.ndarray  # MANIFEST_RUN

    def pack(self) -> bytes:
        return with_crc(MANIFEST_HEAD.pack(MANIFEST_MAGIC, self.salt, self.next_run, len(self.runs))
                        + self.runs.astype(MANIFEST_RUN).tobytes())

    @classmethod
    def unpack(cls, raw: Any) -> "Manifest":
        raw = check_crc(raw, "key index manifest")
        if len(raw) < MANIFEST_HEAD.size:
            raise CorruptIndexError(f"key index manifest of {len(raw)} bytes is truncated")
        magic, salt, next_run, n = MANIFEST_HEAD.unpack_from(raw)
        if magic != MANIFEST_MAGIC or n > MAX_RUNS or len(raw) != MANIFEST_HEAD.size + n * MANIFEST_RUN.itemsize:
            raise CorruptIndexError("key index manifest is malformed")
        runs = np.frombuffer(raw, dtype=MANIFEST_RUN, offset=MANIFEST_HEAD.size)
        ids = runs["id"].tolist()
        if any(a >= b for a, b in zip(ids, ids[1:] + [next_run])):
            raise CorruptIndexError("key index manifest lists run ids out of order")
        return cls(salt, next_run, runs)

    @classmethod
    def fresh(cls) -> "Manifest":
        return cls(os.urandom(SALT_BYTES), 0, np.zeros(0, MANIFEST_RUN))


def with_crc(body: bytes) -> bytes:
    """Index values of the key table end in a crc32 of the rest: a flipped bit in a salt,
    fence or count would otherwise send lookups astray silently."""
    return body + zlib.crc32(body).to_bytes(4, "little")


def check_crc(raw: Any, what: str) -> Any:
    if len(raw) < 4 or zlib.crc32(memoryview(raw)[:-4]) != int.from_bytes(raw[-4:], "little"):
        raise CorruptIndexError(f"{what} fails its checksum")
    return raw[:-4]


def read_manifest(txn: lmdb.Transaction, db: Any) -> Manifest | None:
    raw = txn.get(MANIFEST_KEY, db=db)
    return None if raw is None else Manifest.unpack(raw)


@dataclass(frozen=True)
class RunHead:
    run: int
    entries: int
    fence: np.ndarray  # FENCE
    firsts: list[int]  # fence["first"] as a list, for bisect


def parse_head(run: int, raw: Any) -> RunHead:
    """Parse and check a run head (the fence is what every lookup searches)."""
    where = f"key run {run}"
    if raw is None:
        raise CorruptIndexError(f"{where} is listed in the manifest but missing")
    raw = check_crc(raw, f"{where}: head")
    if len(raw) < RUN_HEAD.size:
        raise CorruptIndexError(f"{where}: head of {len(raw)} bytes is truncated")
    entries, blocks = RUN_HEAD.unpack_from(raw)
    if len(raw) != RUN_HEAD.size + blocks * FENCE.itemsize:
        raise CorruptIndexError(f"{where}: head lists {blocks} blocks but holds {len(raw)} bytes")
    fence = np.frombuffer(raw, dtype=FENCE, offset=RUN_HEAD.size)
    counts = fence["count"].astype(np.int64)
    if int(counts.sum()) != entries or (counts < 1).any() or (counts > MAX_BLOCK_ENTRIES).any() \
            or (np.diff(fence["first"].astype(np.int64)) < 0).any():
        raise CorruptIndexError(f"{where}: head is inconsistent (counts or fence order)")
    return RunHead(run, entries, fence, fence["first"].tolist())


def decode_block(head: RunHead, b: int, extent: Any) -> tuple[np.ndarray, np.ndarray]:
    """Block ``b`` of a run as (fingerprints uint32, slots int64), checked."""
    f = head.fence[b]
    where = f"key run {head.run} block {b}"
    if extent is None:
        raise CorruptIndexError(f"{where}: extent {int(f['ext'])} is missing")
    off, ln, n = int(f["off"]), int(f["len"]), int(f["count"])
    stored = memoryview(extent)[off:off + ln]
    if len(stored) != ln or zlib.crc32(stored) != int(f["crc"]):
        raise CorruptIndexError(f"{where}: stored bytes fail their checksum")
    try:
        declared = zstandard.frame_content_size(stored)
        limit = 4 * n + _SLOT_HEAD.size + 8 * n
        if not 0 <= declared <= limit:
            raise CorruptIndexError(f"{where}: frame declares {declared} bytes")
        raw = decompressor().decompress(stored, max_output_size=limit)
    except zstandard.ZstdError as e:
        raise CorruptIndexError(f"{where}: {e}") from None
    if len(raw) < 4 * n + _SLOT_HEAD.size:
        raise CorruptIndexError(f"{where}: block of {len(raw)} bytes is truncated")
    width, base = _SLOT_HEAD.unpack_from(raw, 4 * n)
    if width not in _WIDTHS or len(raw) != 4 * n + _SLOT_HEAD.size + width * n:
        raise CorruptIndexError(f"{where}: block layout is inconsistent")
    gaps = _unplane(raw[:4 * n], 4, n, np.uint32)
    rel = _unplane(raw[4 * n + _SLOT_HEAD.size:], width, n, _WIDTHS[width])
    fps = np.cumsum(gaps, dtype=np.int64) + int(f["first"])  # gaps are unsigned: sorted
    # the first gap is 0 and the last fingerprint stays within u32; slots below 2**62
    if int(gaps[0]) or int(fps[-1]) > 0xFFFFFFFF or base + int(rel.max()) >= 1 << 62:
        raise CorruptIndexError(f"{where}: entries out of order or out of range")
    return fps.astype(np.uint32), rel.astype(np.int64) + base


def _plane(values: np.ndarray, width: int) -> bytes:
    return values.view(np.uint8).reshape(-1, width).T.tobytes()


def _unplane(raw: bytes, width: int, n: int, dtype: Any) -> np.ndarray:
    planes = np.frombuffer(raw, dtype=np.uint8, count=width * n).reshape(width, n)
    return np.ascontiguousarray(planes.T).view(dtype).reshape(n)


def encode_block(fps: np.ndarray, slots: np.ndarray, cctx: zstandard.ZstdCompressor) -> bytes:
    base = int(slots.min())
    rel = (slots - base).astype(np.uint64)
    top = int(rel.max())
    width = next(w for w in (1, 2, 4, 8) if top < 1 << (8 * w))
    gaps = np.diff(fps.astype(np.int64), prepend=int(fps[0])).astype("<u4")
    payload = (_plane(gaps, 4) + _SLOT_HEAD.pack(width, base)
               + _plane(rel.astype(np.dtype(_WIDTHS[width]).newbyteorder("<")), width))
    return cctx.compress(payload)


def write_run(txn: lmdb.Transaction, db: Any, run: int, fps: np.ndarray, slots: np.ndarray) -> None:
    """Store sorted entries as run ``run`` (head + extents); ``fps``/``slots`` non-empty."""
    cctx = zstandard.ZstdCompressor(level=_ZSTD_LEVEL, write_content_size=True)
    fence = np.zeros((len(fps) + BLOCK_ENTRIES - 1) // BLOCK_ENTRIES, dtype=FENCE)
    ext, size = 0, 0
    pieces: list[bytes] = []
    for b, a in enumerate(range(0, len(fps), BLOCK_ENTRIES)):
        blob = encode_block(fps[a:a + BLOCK_ENTRIES], slots[a:a + BLOCK_ENTRIES], cctx)
        if pieces and size + len(blob) > EXTENT_BYTES:
            txn.put(extent_key(run, ext), b"".join(pieces), db=db)
            ext, pieces, size = ext + 1, [], 0
        fence[b] = (int(fps[a]), len(fps[a:a + BLOCK_ENTRIES]), ext, size, len(blob), zlib.crc32(blob))
        pieces.append(blob)
        size += len(blob)
    txn.put(extent_key(run, ext), b"".join(pieces), db=db)
    txn.put(run_key(run), with_crc(RUN_HEAD.pack(len(fps), len(fence)) + fence.tobytes()), db=db)


def read_run(txn: lmdb.Transaction, db: Any, run: int) -> tuple[np.ndarray, np.ndarray]:
    """Every entry of a run, decoded and checked."""
    head = parse_head(run, txn.get(run_key(run), db=db))
    fps, slots, extents = [], [], {}
    for b in range(len(head.fence)):
        e = int(head.fence[b]["ext"])
        if e not in extents:
            extents[e] = txn.get(extent_key(run, e), db=db)
        f, s = decode_block(head, b, extents[e])
        fps.append(f)
        slots.append(s)
    if not fps:
        return np.zeros(0, np.uint32), np.zeros(0, np.int64)
    return np.concatenate(fps), np.concatenate(slots)


def delete_run(txn: lmdb.Transaction, db: Any, run: int) -> None:
    txn.delete(run_key(run), db=db)
    prefix = b"X" + run.to_bytes(8, "big")
    with txn.cursor(db=db) as cur:
        if cur.set_range(prefix):
            while bytes(cur.key()).startswith(prefix):
                if not cur.delete():
                    break


def sort_entries(fps: np.ndarray, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((slots, fps))
    return fps[order], slots[order]


def live_mask(slots: np.ndarray, dead: np.ndarray) -> np.ndarray:
    """Entries whose slot is not in the sorted ``dead`` rows."""
    if not len(dead):
        return np.ones(len(slots), dtype=bool)
    i = np.minimum(np.searchsorted(dead, slots), len(dead) - 1)
    return dead[i] != slots


def add_run(txn: lmdb.Transaction, db: Any, man: Manifest, fps: np.ndarray, slots: np.ndarray,
            dead: np.ndarray) -> Manifest:
    """Write the entries as the newest run, merge runs as the policy says, and store the new
    manifest; returns it.  Merges drop entries whose slot is in ``dead`` (sorted)."""
    runs = [(int(r), int(n)) for r, n in man.runs.tolist()]
    next_run = man.next_run
    if len(fps):
        fps, slots = sort_entries(fps, slots)
        write_run(txn, db, next_run, fps, slots)
        runs.append((next_run, len(fps)))
        next_run += 1
    while len(runs) >= 2 and (runs[-2][1] <= MERGE_RATIO * runs[-1][1] or len(runs) > MAX_RUNS - 1):
        (old, _), (new, _) = runs[-2], runs[-1]
        f1, s1 = read_run(txn, db, old)
        f2, s2 = read_run(txn, db, new)
        f, s = np.concatenate([f1, f2]), np.concatenate([s1, s2])
        keep = live_mask(s, dead)
        f, s = sort_entries(f[keep], s[keep])
        delete_run(txn, db, old)
        delete_run(txn, db, new)
        runs = runs[:-2]
        if len(f):
            write_run(txn, db, next_run, f, s)
            runs.append((next_run, len(f)))
            next_run += 1
    out = Manifest(man.salt, next_run, np.array(runs, dtype=MANIFEST_RUN).reshape(-1))
    txn.put(MANIFEST_KEY, out.pack(), db=db)
    return out
