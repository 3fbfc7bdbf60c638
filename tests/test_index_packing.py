"""The index's packed values (format 4): group directories (bundle members' residuals included), segment tables, definition batches.

Round trips against the values packed, damaged values raising CorruptIndexError (never a
crash or a large allocation), and an archive whose definitions arrive over several commits.
"""
from __future__ import annotations

import json
import os

import lmdb
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import archive
from archive.codec.chunk import HEADER_SIZE
from archive.errors import CorruptIndexError
from archive.index import packed
from archive.index.records import (
    CHUNK_REF, GROUP_HEAD, NO_BUNDLE, NO_PARENT, GroupEntry, _bundle_residuals, pack_columns,
    pack_defs, pack_segments, unpack_columns, unpack_defs, unpack_segments,
)
from tests.faults.hostile import BOMB_4G, address_space_limit

u32 = st.integers(0, 2**32 - 1)
stat = st.one_of(
    st.just({}),
    st.builds(lambda a, b: {"min": min(a, b), "max": max(a, b)}, st.integers(-2**63, 2**63 - 1),
              st.integers(-2**63, 2**63 - 1)),
    st.builds(lambda a, b: {"min": min(a, b), "max": max(a, b)}, st.text(max_size=8), st.text(max_size=8)),
    st.builds(lambda t: {"tags": t}, st.integers(1, 511)),
    st.builds(lambda a, n: {"min": a, "max": a, "nan": n}, st.floats(allow_nan=False), st.booleans()),
)


@st.composite
def entries(draw) -> GroupEntry:
    n = draw(st.integers(0, 40))
    refs = np.zeros(n, dtype=CHUNK_REF)
    for name in CHUNK_REF.names:
        refs[name] = draw(st.lists(u32, min_size=n, max_size=n))
    firsts = draw(st.lists(st.integers(0, 2**64 - 1), min_size=n, max_size=n))
    parents = draw(st.lists(st.one_of(u32, st.just(NO_PARENT)), min_size=n, max_size=n))
    stats = draw(st.lists(stat, min_size=n, max_size=n))
    return GroupEntry.build(draw(st.integers(0, 2**64 - 1)), draw(u32), refs, firsts, parents, stats)


@st.composite
def bundled_refs(draw) -> np.ndarray:
    """References as a writer lays them out: chunks alone, and bundles whose members lie
    back to back in directory order (interleaved with the others), each a raw chunk."""
    n = draw(st.integers(1, 40))
    refs = np.zeros(n, dtype=CHUNK_REF)
    refs["raw"] = draw(st.lists(st.integers(0, 20_000), min_size=n, max_size=n))
    refs["stored"] = refs["raw"] + HEADER_SIZE
    refs["at"] = NO_BUNDLE
    refs["seg"] = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    refs["file"] = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    size: dict[tuple[int, int], int] = {}
    for i, bundled in enumerate(draw(st.lists(st.booleans(), min_size=n, max_size=n))):
        if bundled:
            key = (int(refs["file"][i]), int(refs["seg"][i]))
            refs["at"][i] = size.get(key, 0)
            size[key] = int(refs["at"][i] + refs["stored"][i])
        else:
            refs["stored"][i] = draw(u32)
            refs["seg"][i] += 10  # a segment of its own
    return refs


@given(bundled_refs())
def test_bundle_members_pack_to_zero_residuals(refs):
    """A writer's bundle members cost nothing in the stored and at planes, and come back."""
    members = refs["at"] != NO_BUNDLE
    res = _bundle_residuals(refs.copy(), -1)
    assert (res["at"][members] == 0).all() and (res["stored"][members] == 0).all()
    assert (res[~members] == refs[~members]).all()
    e = GroupEntry.build(0, 1, refs, [0] * len(refs), [NO_PARENT] * len(refs), [{}] * len(refs))
    assert GroupEntry.unpack(e.pack(), 0).refs.tobytes() == refs.tobytes()


@given(entries())
def test_group_entry_round_trip(e):
    refs, parent = e.refs.tobytes(), e.parent.tolist()  # (packing must not change the entry)
    try:
        value = e.pack()
    except ValueError as err:  # a member placed 1 byte before its layout's place: refused
        assume("1 byte before" not in str(err))
        raise
    got = GroupEntry.unpack(value, 0)
    assert (got.first_row, got.rows) == (e.first_row, e.rows)
    assert got.refs.tobytes() == e.refs.tobytes() == refs
    assert got.first.tolist() == e.first.tolist() and got.parent.tolist() == e.parent.tolist() == parent
    assert got.stats() == e.stats()


def test_lone_surrogates_in_statistics_survive():
    refs = np.zeros(1, dtype=CHUNK_REF)
    e = GroupEntry.build(0, 1, refs, [0], [NO_PARENT], [{"min": "\ud800a", "max": "\udfff"}])
    assert GroupEntry.unpack(e.pack(), 0).stats() == [{"min": "\ud800a", "max": "\udfff"}]


def _entry(n: int = 3) -> GroupEntry:
    refs = np.zeros(n, dtype=CHUNK_REF)
    refs["col"] = np.arange(n)
    return GroupEntry.build(10, 5, refs, [0] * n, [NO_PARENT] * n, [{"tags": 16}] * n)


@pytest.mark.parametrize("damage", ["truncated", "head only", "flipped", "more chunks", "fewer chunks",
                                    "huge claim", "bomb"])
def test_damaged_group_entry_raises(damage):
    v = _entry().pack()
    head = GROUP_HEAD.unpack_from(v)
    bad = {
        "truncated": v[:-5],
        "head only": v[:GROUP_HEAD.size],
        "flipped": v[:-8] + bytes([v[-8] ^ 0x21]) + v[-7:],
        "more chunks": GROUP_HEAD.pack(head[0], head[1], head[2] + 1, head[3]) + v[GROUP_HEAD.size:],
        "fewer chunks": GROUP_HEAD.pack(head[0], head[1], head[2] - 1, head[3]) + v[GROUP_HEAD.size:],
        "huge claim": GROUP_HEAD.pack(0, 1, 2**32 - 1, 2**32 - 1) + v[GROUP_HEAD.size:],
        "bomb": GROUP_HEAD.pack(0, 1, 2**20, 0) + BOMB_4G,
    }[damage]
    with address_space_limit(), pytest.raises(CorruptIndexError, match="group 7"):
        GroupEntry.unpack(bad, 7)


@pytest.mark.parametrize("stats, why", [(b"[{}]", "list of 3"), (b"{}", "list of 3"), (b"[1,2,3]", "mapping"),
                                        (b'[{"min":NaN},{},{}]', "NaN"), (b"[{", "unreadable")])
def test_bad_statistics_raise_when_read(stats, why):
    e = _entry()
    v = GroupEntry(e.first_row, e.rows, e.refs, e.first, e.parent, stats).pack()
    got = GroupEntry.unpack(v, 0)  # opening reads only the references
    assert got.refs.tobytes() == e.refs.tobytes()
    with pytest.raises(CorruptIndexError, match=why):
        got.stats()


@given(st.lists(st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)), max_size=50))
def test_segment_table_round_trip(pairs):
    arr = np.array(pairs, dtype=np.uint64).reshape(-1, 2)
    assert unpack_segments(pack_segments(arr), "t").tolist() == arr.tolist()


def test_segment_table_damage_raises():
    with pytest.raises(CorruptIndexError, match="not .offset, length. pairs"):
        unpack_segments(packed.pack(bytes(24)), "t")
    with pytest.raises(CorruptIndexError, match="bad zstd frame"):
        unpack_segments(bytes(32), "t")


@given(st.lists(st.one_of(st.lists(st.text(max_size=5), max_size=4),
                          st.tuples(st.lists(st.one_of(st.none(), st.text(max_size=5))), st.sampled_from(["tag", "int"])).map(list)),
                min_size=1, max_size=20))
def test_definition_batches_round_trip(items):
    assert unpack_defs(pack_defs(items), "defs") == json.loads(json.dumps(items))


@pytest.mark.parametrize("raw, why", [(packed.pack(b"[]"), "non-empty list"), (packed.pack(b"{}"), "non-empty list"),
                                      (packed.pack(b"\xff"), "unreadable"), (b"[1]", "bad zstd frame"),
                                      (BOMB_4G, "declares")])
def test_bad_definition_batches_raise(raw, why):
    with address_space_limit(), pytest.raises(CorruptIndexError, match=why):
        unpack_defs(raw, "defs")


def test_packed_value_must_declare_the_expected_size():
    frame = packed.pack(b"abcdef")
    assert packed.unpack(frame, "v", 6) == b"abcdef"
    with pytest.raises(CorruptIndexError, match="declares 6 bytes, its header says 7"):
        packed.unpack(frame, "v", 7)


def test_definitions_over_several_commits(tmp_path):
    """Columns and shapes arrive in one batch per commit; a reopened archive (and a writer
    appending to it) numbers them exactly as the writer did."""
    recs = [{"a": 1}, {"a": 2, "b": {"x": "s"}}, {"b": {"y": [1.5, None]}, "c": True}, {"b": {"x": "t", "y": []}}]
    path = tmp_path / "a"
    for r in recs:
        with archive.open(path, "a") as ar:
            ar.append(r)
    env = lmdb.open(str(path / "index"), readonly=True, max_dbs=20, lock=False)
    with env.begin() as txn:
        batches = {name: txn.stat(env.open_db(name.encode(), txn=txn, create=False))["entries"]
                   for name in ("columns", "shapes", "groups", "segtab")}
    env.close()
    # columns new in commits 1-3 (none in 4); shapes new in all 4 commits (root's in all,
    # b's in 2-4: one batch per commit)
    assert batches == {"columns": 3, "shapes": 4, "groups": 4, "segtab": 4}, batches
    with archive.open(path, "a") as ar:
        ar.append({"b": {"z": 0}, "a": 3})
    recs.append({"b": {"z": 0}, "a": 3})
    with archive.open(path) as ar:
        assert list(ar) == recs
        assert ar.verify() == []
        assert [r["a"] for r in ar.scan(where="a >= 2")] == [2, 3]


def test_reader_slots_run_out_with_a_clear_error(tmp_path):
    """Each open handle holds one reader slot of the index (lock.mdb holds MAX_READERS of
    them, 64 bytes each); past that, opening another handle says so."""
    from archive.index.store import MAX_READERS
    with archive.open(tmp_path / "a", "a") as ar:
        ar.append({"x": 1})
    assert os.path.getsize(tmp_path / "a" / "index" / "lock.mdb") <= 16 << 10
    handles = []
    try:
        with pytest.raises(archive.ReadersFullError, match=f"all {MAX_READERS} reader slots"):
            for _ in range(MAX_READERS + 1):
                handles.append(archive.open(tmp_path / "a"))
        assert MAX_READERS - 2 <= len(handles) <= MAX_READERS
    finally:
        for h in handles:
            h.close()
    with archive.open(tmp_path / "a") as ar:  # slots come back when handles close
        assert ar[0] == {"x": 1}


COMPONENT = st.one_of(st.none(), st.sampled_from(["a", "b", "é", ""]), st.text(max_size=3))


@given(st.lists(st.tuples(st.lists(COMPONENT, max_size=5), st.sampled_from(["tag", "int", "str"])),
                min_size=1, max_size=30))
def test_column_definitions_round_trip_front_coded(defs):
    """Column paths are stored as the prefix kept from the previous path plus the rest."""
    value = pack_columns([(list(p), s) for p, s in defs])
    assert unpack_columns(value, "c") == [(list(p), s) for p, s in defs]
    kept = [item[0] for item in unpack_defs(value, "c")]
    assert kept[0] == 0 and all(k <= len(p) for k, (p, _) in zip(kept, defs))
