"""Bundles: a group's small chunks stored together in one zstd frame (archive.storage.bundles).

The bundle layout round trips and its damage is refused (never a crash or a large
allocation); archives with bundles read back like archives without; ``chunks(path)`` still
yields standalone chunks; a damaged bundle fails exactly the reads that need its members, and
``verify`` reports it once.
"""
from __future__ import annotations

import random
import string
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

import archive
from archive.codec.chunk import ChunkEncoder, decode_chunk
from archive.errors import CorruptChunkError
from archive.index.records import NO_BUNDLE
from archive.storage.bundles import (
    BUNDLE_HEADER, BUNDLE_MAGIC, BUNDLE_TARGET, MAX_BUNDLE_RAW, BundleCache, BundlePacker,
    bundle_sizes, pack_bundle, unpack_bundle,
)
from tests.faults.hostile import BOMB_4G, address_space_limit

GOLDEN = Path(__file__).parent / "golden"


# --------------------------------------------------------------------------- the layout

@given(st.lists(st.binary(max_size=300), max_size=12), st.sampled_from([1, 3, 9]))
def test_bundle_round_trip(members, level):
    data = pack_bundle(members, level)
    assert data[:4] == BUNDLE_MAGIC
    assert unpack_bundle(data) == b"".join(members)
    assert bundle_sizes(data) == (sum(map(len, members)), len(data))


def test_golden_bundle_decodes():
    """A committed bundle of three committed chunks: the layout cannot change by accident."""
    from tools.make_golden import BUNDLE_MEMBERS
    assert BUNDLE_HEADER.size == 16 and BUNDLE_MAGIC == b"\x89ACB"
    chunks = [(GOLDEN / f"{m}.chunk").read_bytes() for m in BUNDLE_MEMBERS]
    raw = unpack_bundle((GOLDEN / "bundle.bin").read_bytes())
    assert raw == b"".join(chunks)
    at = 0
    for c in chunks:
        assert decode_chunk(memoryview(raw)[at:at + len(c)])[1].tolist() == decode_chunk(c)[1].tolist()
        at += len(c)


def _with_header(raw_len: int, body: bytes, crc: int | None = None) -> bytes:
    return BUNDLE_HEADER.pack(BUNDLE_MAGIC, raw_len, len(body), zlib.crc32(body) if crc is None else crc) + body


GOOD = pack_bundle([b"a" * 100, b"b" * 50], 3)
FRAME = GOOD[BUNDLE_HEADER.size:]
DAMAGED = {
    "truncated header": (GOOD[:10], "shorter than its 16-byte header"),
    "truncated body": (GOOD[:-3], "its header says"),
    "bad magic": (b"\x89XXX" + GOOD[4:], "bad bundle magic"),
    "flipped body bit": (GOOD[:20] + bytes([GOOD[20] ^ 4]) + GOOD[21:], "checksum mismatch"),
    "raw length past the limit": (_with_header(MAX_BUNDLE_RAW + 1, FRAME), "the limit is"),
    "raw length not the frame's": (_with_header(151, FRAME), "chunk header says 151"),
    "frame without a size": (_with_header(150, zstandard.ZstdCompressor(write_content_size=False)
                                          .compress(b"a" * 150)), "declares"),
    "not a zstd frame": (_with_header(5, b"hello"), "zstd frame header"),
    "bomb": (_with_header(MAX_BUNDLE_RAW, BOMB_4G), "declares"),
}


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_damaged_bundles_are_refused(case):
    data, match = DAMAGED[case]
    with address_space_limit(), pytest.raises(CorruptChunkError, match=match):
        unpack_bundle(data)


def test_packer_closes_bundles_at_the_target():
    stored: list[bytes] = []
    packer = BundlePacker(3, lambda data: (7, stored.append(data) or len(stored) - 1))
    refs = [[0] * 8 for _ in range(5)]
    chunks = [bytes([i]) * (BUNDLE_TARGET // 2) for i in range(5)]
    for c, r in zip(chunks, refs):
        packer.add(c, r)
    packer.close()
    packer.close()  # nothing open: stores nothing
    assert [r[1:3] + [r[7]] for r in refs] == [[7, 0, 0], [7, 0, BUNDLE_TARGET // 2], [7, 1, 0],
                                               [7, 1, BUNDLE_TARGET // 2], [7, 2, 0]]
    assert [unpack_bundle(s) for s in stored] == [chunks[0] + chunks[1], chunks[2] + chunks[3], chunks[4]]


def test_cache_keeps_the_most_recent_within_its_limit():
    cache = BundleCache(limit=250)
    for i in range(5):
        cache.put((0, i), bytes(100))
        assert cache.get((0, 0)) is not None or i >= 2  # used: kept while it fits
    assert cache.get((0, 4)) is not None and cache.get((0, 1)) is None
    assert sum(cache.get((0, i)) is not None for i in range(5)) == 2
    cache.clear()
    assert cache.get((0, 4)) is None


# --------------------------------------------------------------------------- in an archive

def _records(n: int) -> list[dict]:
    """Wide records: many small columns (bundled) and one large text column (alone)."""
    rng = random.Random(5)
    return [{"id": i, "flag": i % 3 == 0, "tags": [f"t{i % 4}"] * (i % 3),
             "meta": {f"k{j}": (i * j) % 17 for j in range(12)},
             "text": "".join(rng.choice(string.ascii_letters + " ") for _ in range(40 + i % 20))}
            for i in range(n)]


@pytest.fixture(scope="module")
def bundled(tmp_path_factory) -> tuple[Path, list[dict]]:
    path = tmp_path_factory.mktemp("bundled") / "a"
    recs = _records(3000)
    with archive.open(path, "a", group_rows=1000, bundle_bytes=4096) as ar:
        ar.extend(recs, keys=[f"k{i}" for i in range(len(recs))])
    return path, recs


def _kinds(view) -> tuple[int, int]:
    refs = np.concatenate(view.group_refs)
    members = int((refs["at"] != NO_BUNDLE).sum())
    return members, len(refs) - members


def test_an_archive_with_bundles_reads_back(bundled):
    path, recs = bundled
    with archive.open(path) as ar:
        members, alone = _kinds(ar._view)
        assert members > 30 and alone > 0
        assert list(ar.scan()) == recs
        assert [ar[i] for i in (0, 1234, 2999)] == [recs[0], recs[1234], recs[2999]]
        assert ar.get("k77") == recs[77]
        assert ar.column("meta.k5").tolist() == [r["meta"]["k5"] for r in recs]
        assert ar.take([5, 2500, 17]) == [recs[5], recs[2500], recs[17]]
        assert ar.verify() == []
        st_ = ar.stats()
        assert st_["bundles"] == 3
        files = st_["files"].values()
        assert sum(f["chunks"] for f in files) == members + alone
        assert sum(f["segments"] for f in files) == 3 + alone
        stored = sum(c["stored_bytes"] for c in st_["columns"].values())
        assert abs(stored - (st_["segment_bytes"] - 16)) <= len(st_["columns"])  # shares round


def test_same_records_with_and_without_bundles(tmp_path):
    recs = _records(500)
    for b in (0, 64, 16384):
        with archive.open(tmp_path / str(b), "a", group_rows=128, bundle_bytes=b) as ar:
            ar.extend(recs)
        with archive.open(tmp_path / str(b)) as ar:
            assert (_kinds(ar._view)[0] > 0) == (b > 0)
            assert list(ar.scan()) == recs
            assert list(ar.scan(["meta.k3"], where="id >= 100 and id < 140")) == \
                [{"meta": {"k3": r["meta"]["k3"]}} for r in recs[100:140]]


def test_chunks_of_a_path_are_standalone(bundled):
    path, recs = bundled
    with archive.open(path) as ar:
        view = ar._view
        for node, slot, want in ((("meta", "k3"), "int", [r["meta"]["k3"] for r in recs]),
                                 (("text",), "str", [r["text"] for r in recs])):
            value_col = view.col_ids[(node, slot)]
            node_cols = {c for c, (p, _) in enumerate(view.columns) if p == node}
            cols = [int(r["col"]) for refs in view.group_refs for r in refs if int(r["col"]) in node_cols]
            got = []
            chunks = list(ar.chunks(".".join(node)))
            assert len(chunks) == len(cols)
            for c, col in zip(chunks, cols):
                kind, values = decode_chunk(c.tobytes(), ar.dicts)
                if col == value_col:
                    got.extend(values.tolist())
            assert got == want


def _damage_bundle(path: Path, group: int) -> None:
    with archive.open(path) as ar:
        view = ar._view
        refs = view.group_refs[group]
        r = refs[refs["at"] != NO_BUNDLE][0]
        fv = view.files[int(r["file"])]
        off, ln = (int(x) for x in fv.segments[int(r["seg"])])
        name = fv.path
    data = bytearray(name.read_bytes())
    data[off + ln // 2] ^= 0x10
    name.write_bytes(bytes(data))


def test_a_damaged_bundle_fails_the_reads_that_need_it(bundled, tmp_path):
    import shutil
    path = tmp_path / "a"
    shutil.copytree(bundled[0], path)
    recs = bundled[1]
    _damage_bundle(path, 1)
    with archive.open(path, cache_bytes=1) as ar:
        assert ar[0] == recs[0] and ar[2999] == recs[2999]  # groups 0 and 2
        ar._drop_cache()
        with pytest.raises(CorruptChunkError, match="bundled chunk at .*bundle checksum mismatch"):
            ar[1500]
        # the text column is stored alone: group 1's texts still read
        texts = ar.column("text")
        assert texts[1000:2000].tolist() == [r["text"] for r in recs[1000:2000]]
        problems = ar.verify()
        assert len(problems) == 1 and "bundle checksum mismatch" in problems[0]


def test_member_reference_past_its_bundle_is_refused(bundled):
    path, _ = bundled
    with archive.open(path) as ar:
        view = ar._view
        ref = view.group_refs[0][view.group_refs[0]["at"] != NO_BUNDLE][0].copy()
        ref["at"] = 10**6
        with pytest.raises(CorruptChunkError, match="past the end of its bundle"):
            view.chunk(ref)
        ref["at"] = NO_BUNDLE  # a bundle read as a chunk
        with pytest.raises(CorruptChunkError, match="bad magic"):
            archive.codec.chunk.read_header(view.chunk(ref))


def test_bundle_bytes_setting_is_checked_and_kept(tmp_path):
    with pytest.raises(ValueError, match="bundle_bytes"):
        archive.open(tmp_path / "x", "a", bundle_bytes=-1)
    with pytest.raises(ValueError, match="bundle_bytes"):
        archive.open(tmp_path / "y", "a", bundle_bytes=(1 << 20) + 1)
    with archive.open(tmp_path / "z", "a", bundle_bytes=100) as ar:
        ar.append({"a": 1})
    with archive.open(tmp_path / "z") as ar:
        assert ar.settings.bundle_bytes == 100


def test_raw_below_stores_small_payloads_uncompressed():
    enc = ChunkEncoder(9)
    values = np.arange(1000) % 7
    small = enc.encode("int", values, raw_below=1 << 20)
    packed_ = enc.encode("int", values)
    assert struct.unpack_from("<B", small.data, 5)[0] == 0  # flags: raw body
    assert struct.unpack_from("<B", packed_.data, 5)[0] == 1  # zstd
    assert decode_chunk(small.data)[1].tolist() == decode_chunk(packed_.data)[1].tolist()
