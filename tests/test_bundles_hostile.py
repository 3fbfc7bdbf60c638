"""Hostile bundles inside a real archive (planted with tests/faults/bundle_plant.py): bad
headers, lying sizes, a bomb, members that lie, references into the middle of a member or into
another group's bundle.  Every read gives the right record or CorruptChunkError naming a
segment file, within a bounded address space, and verify() reports the damage.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

import archive
from archive.codec.chunk import decode_chunk
from archive.engine import chunkio
from archive.errors import CorruptChunkError
from archive.index.records import NO_BUNDLE
from archive.storage import bundles
from archive.storage.bundles import pack_bundle, unpack_bundle
from tests.faults import bundle_plant as bp
from tests.faults.hostile import BOMB_4G, address_space_limit
from tests.faults.hostile import chunk as hostile_chunk

HOSTILE_ROWS, HOSTILE_GROUP = 20, 1
DAMAGED = range(HOSTILE_GROUP * HOSTILE_ROWS, (HOSTILE_GROUP + 1) * HOSTILE_ROWS)
#: the column whose member the damage aims at (every record reads it)
TARGET = (("w", "c3"), "int")


@pytest.fixture(scope="module")
def hostile_ref(tmp_path_factory) -> tuple[Path, list[dict]]:
    path = tmp_path_factory.mktemp("hostile") / "a"
    recs = bp.hostile_records(3 * HOSTILE_ROWS)
    with mock.patch.object(bundles, "BUNDLE_TARGET", 300), \
            archive.open(path, "a", group_rows=HOSTILE_ROWS, bundle_bytes=16384) as ar:
        ar.extend(recs)  # several bundles per group
    assert all(len(b) >= 2 for b in bp.bundles_by_group(path))
    return path, recs


def _target(path: Path) -> np.void:
    """The damaged group's reference to the TARGET column's chunk (a bundle member)."""
    with archive.open(path) as ar:
        refs = ar._view.group_refs[HOSTILE_GROUP]
        ref = refs[refs["col"] == ar._view.col_ids[TARGET]][0].copy()
    assert int(ref["at"]) != NO_BUNDLE
    return ref


def _read_all(path: Path, recs: list[dict]) -> tuple[int, list[str]]:
    """Read every way; records outside DAMAGED read exactly, inside it exactly or with a
    CorruptChunkError.  Returns how many records raised, and what verify() says."""
    raised = 0
    with address_space_limit(), archive.open(path, cache_bytes=1) as ar:
        for i, want in enumerate(recs):
            try:
                got = ar[i]
            except CorruptChunkError as e:
                assert i in DAMAGED, f"undamaged record {i} failed: {e}"
                assert e.path is not None and "seg-" in e.path
                raised += 1
                continue
            assert got == want, f"record {i} read back wrong"
        for what, pick in (("w.c3", lambda r: r["w"]["c3"]), ("text", lambda r: r["text"])):
            try:
                assert ar.column(what).tolist() == [pick(r) for r in recs]
            except CorruptChunkError:
                pass
            try:
                assert [pick(r) for r in ar.scan([what], where="i >= 0")] == [pick(r) for r in recs]
            except CorruptChunkError:
                pass
            try:
                [decode_chunk(c.tobytes(), ar.dicts) for c in ar.chunks(what)]
            except CorruptChunkError:
                pass
        ar.stats()
        return raised, ar.verify()


@pytest.mark.parametrize("case", sorted(bp.BUNDLES))
def test_hostile_bundle_in_an_archive(hostile_ref, tmp_path, case):
    """The TARGET member's bundle replaced by hostile bytes: its group's records raise."""
    src, recs = hostile_ref
    path = tmp_path / "a"
    shutil.copytree(src, path)
    t = _target(path)
    key = (int(t["file"]), int(t["seg"]))
    seg = bp.segment_bytes(path, *key)
    new = bp.plant(path, key[0], bp.BUNDLES[case](seg, unpack_bundle(seg), int(t["at"])))
    bp.rewrite_refs(path, HOSTILE_GROUP, bp.edit_refs(
        lambda refs: (refs["at"] != NO_BUNDLE) & (refs["file"] == key[0]) & (refs["seg"] == key[1]),
        seg=bp.const(new)))
    raised, problems = _read_all(path, recs)
    assert raised == HOSTILE_ROWS and problems


def test_member_that_is_a_bomb(hostile_ref, tmp_path):
    """A member that is a zstd bomb declaring 4 GiB, appended to a valid bundle."""
    src, recs = hostile_ref
    path = tmp_path / "a"
    shutil.copytree(src, path)
    t = _target(path)
    raw = unpack_bundle(bp.segment_bytes(path, int(t["file"]), int(t["seg"])))
    bomb = hostile_chunk("int", int(t["count"]), b"", compressed_body=BOMB_4G, raw_len=(1 << 32) - 1)
    new = bp.plant(path, int(t["file"]), pack_bundle([raw + bomb], 3))
    bp.rewrite_refs(path, HOSTILE_GROUP, bp.edit_refs(bp.same_col(t), seg=bp.const(new), at=bp.const(len(raw)),
                                                      stored=bp.const(len(bomb))))
    raised, problems = _read_all(path, recs)
    assert raised == HOSTILE_ROWS and problems


@pytest.mark.parametrize("case", sorted(bp.REFS))
def test_lying_member_references(hostile_ref, tmp_path, case):
    """Member references that lie about their place: the group's records raise (or, pointed
    at another group's bundle, read as that data only where it is identical)."""
    src, recs = hostile_ref
    path = tmp_path / "a"
    shutil.copytree(src, path)
    bp.rewrite_refs(path, HOSTILE_GROUP, bp.REFS[case](_target(path), bp.bundles_by_group(path)[0][0]))
    raised, problems = _read_all(path, recs)
    assert raised == HOSTILE_ROWS and problems


def test_verify_sees_damage_behind_the_bundle_cache(tmp_path):
    """verify() must check the bytes on disk: a bundle damaged after this handle read it is
    reported, as a damaged standalone chunk is."""
    path = tmp_path / "a"
    with archive.open(path, "a", group_rows=50, bundle_bytes=16384) as ar:
        ar.extend([{"a": i, "s": f"x{i}"} for i in range(100)])
    ar = archive.open(path)
    assert len(list(ar.scan())) == 100 and ar.verify() == []
    _flip_in_bundle(path, 0)
    try:
        assert any("bundle checksum mismatch" in p for p in ar.verify())
    finally:
        ar.close()


def _flip_in_bundle(path: Path, group: int) -> None:
    """Flip a bit in the middle of the body of the group's first bundle, in place."""
    fno, seg = bp.bundles_by_group(path)[group][0]
    with archive.open(path) as ar:
        fv = ar._view.files[fno]
        off, ln = (int(x) for x in fv.segments[seg])
    with open(fv.path, "r+b") as f:
        f.seek(off + ln // 2)
        byte = f.read(1)[0]
        f.seek(off + ln // 2)
        f.write(bytes([byte ^ 0x10]))


def test_damaged_bundle_beside_a_threaded_batch(tmp_path):
    """A group large enough for the multi-threaded decode (a 4.5 MB chunk stored alone beside
    its bundle): the damaged bundle fails the records on both paths, naming the file, and the
    chunk stored alone still reads."""
    path = tmp_path / "a"
    recs = [{"i": i, "w": {"a": i % 5, "b": i % 7}, "t": bytes([i % 251]) * 7 + os.urandom(2993)}
            for i in range(1500)]
    with archive.open(path, "a", group_rows=1500, bundle_bytes=16384) as ar:
        ar.extend(recs)
    _flip_in_bundle(path, 0)
    for threads in (1, 2):
        with archive.open(path, threads=threads, cache_bytes=1) as ar:
            refs = ar._view.group_refs[0]
            assert chunkio.threaded(list(refs), 2) and (refs["at"] != NO_BUNDLE).any()
            with pytest.raises(CorruptChunkError, match="bundle checksum mismatch") as e:
                ar[5]
            assert e.value.path is not None and "seg-" in e.value.path
            with pytest.raises(CorruptChunkError):
                list(ar.scan())
            assert ar.column("t").tolist() == [r["t"] for r in recs]


def test_compaction_over_a_damaged_bundle_changes_nothing(hostile_ref, tmp_path):
    """compact() refuses to rewrite an archive it cannot read, and leaves it as it was: same
    files, undamaged records still read, verify() reports the same problem."""
    src, recs = hostile_ref
    path = tmp_path / "a"
    shutil.copytree(src, path)
    with archive.open(path, "a") as ar:  # something for compaction to do
        ar.put("x", {"i": -1})
        ar.delete("x")
    _flip_in_bundle(path, HOSTILE_GROUP)
    before = sorted(p.name for p in path.glob("seg-*.acs"))
    with archive.open(path) as ar:
        problems = ar.verify()
    assert len(problems) == 1
    with archive.open(path, "a") as ar, pytest.raises(CorruptChunkError):
        ar.compact()
    assert sorted(p.name for p in path.glob("seg-*.acs")) == before
    with archive.open(path, "a", cache_bytes=1) as ar:
        assert [ar[i] for i in range(HOSTILE_ROWS)] == recs[:HOSTILE_ROWS]
        assert ar.verify() == problems
