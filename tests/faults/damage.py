"""A reference archive to damage, where its chunks lie, and tools to damage it."""
from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import lmdb
import numpy as np

import archive
from archive.index.records import NO_BUNDLE
from archive.index.store import DBS
from tests.faults.child import Forker, outcome
from tests.faults.tasks import _fingerprint
from tests.faults.workload import make_record

SETTINGS = dict(group_rows=8, segment_bytes=8192, chunk_items=32, chunk_bytes=1024, zstd_level=3,
                zstd_dict_bytes=256, bundle_bytes=40)  # 50 small groups: columns train
# dictionaries, and their tiniest chunks go into bundles
#: A ``where`` whose pruning reads chunk statistics (the read task runs it).
WHERE = "i >= 100 and i < 140"


@dataclass
class Reference:
    """A built archive, what it must read back as, and where each group's chunks lie."""

    path: Path
    items: list[tuple[str | None, Any]]
    fingerprints: list[str]
    keys: dict[str, str]                     # key -> fingerprint of its record
    chunks: list[list[tuple[str, int, int]]]  # per group: (file name, offset, length)
    group_of_position: np.ndarray
    file_sizes: dict[str, int]

    def copy(self, dest: Path) -> Path:
        shutil.copytree(self.path, dest)
        return dest


def build(path: Path) -> Reference:
    rng = random.Random(7)
    items: list[tuple[str | None, Any]] = []
    with archive.open(path, "a", **SETTINGS) as ar:
        for i in range(400):
            key = f"key{i}" if i % 2 == 0 else None
            rec = make_record(rng, 0, i)
            ar.append(rec, key=key)
            items.append((key, rec))
        ar.commit()
        for i in range(0, 120, 6):  # in-place replacements: redirects and hidden rows
            ar.put(f"key{i}", {"replaced": i, "i": i})
            items[[k for k, _ in items].index(f"key{i}")] = (f"key{i}", {"replaced": i, "i": i})
        for i in range(2, 160, 10):  # deletions: dead rows
            ar.delete(f"key{i}")
            del items[[k for k, _ in items].index(f"key{i}")]
        ar.commit()
    with archive.open(path) as ar:
        v = ar._view
        assert len(v.dead) and v.redirect, "the reference archive must hold deletes and redirects"
        assert len(v.dicts), "the reference archive must hold column dictionaries"
        assert any((refs["at"] != NO_BUNDLE).any() for refs in v.group_refs), \
            "the reference archive must hold bundles"
        chunks = []
        for refs in v.group_refs:
            chunks.append([(v.files[int(r["file"])].path.name,
                            *(int(x) for x in v.files[int(r["file"])].segments[int(r["seg"])]))
                           for r in refs])
        rows = v.content_rows(v.slots_of(np.arange(len(ar), dtype=np.int64)))
        groups = v.group_of(rows)
        sizes = {fv.path.name: fv.length for fv in v.files.values()}
        fps = [_fingerprint(r) for r in ar.scan()]
    assert fps == [_fingerprint(r) for _, r in items]
    keys = {k: _fingerprint(r) for k, r in items if k is not None}
    return Reference(path, items, fps, keys, chunks, groups, sizes)


def damaged_groups(ref: Reference, hit: Callable[[str, int, int], bool]) -> set[int]:
    """Groups with a chunk for which ``hit(file, offset, length)`` holds."""
    return {g for g, chunks in enumerate(ref.chunks) if any(hit(*c) for c in chunks)}


def read(forker: Forker, ref: Reference, path: Path, **extra: Any) -> dict:
    """Run the read task on ``path`` in a child under a 2 GiB address-space limit; the child
    must end normally (a signal or an exception other than ArchiveError fails the test)."""
    out, err = Path(f"{path}.json"), Path(f"{path}.err")
    res = forker.run("read", path=str(path), out=str(out), err=str(err), keys=sorted(ref.keys),
                     where=WHERE, timeout=120, **extra)
    assert res == {"signal": None, "code": 0, "timeout": False}, outcome(res, err)
    return json.loads(out.read_text())


def check_positions(ref: Reference, res: dict, damaged: set[int]) -> int:
    """Positions outside damaged groups read exactly; inside them, exactly or with a
    CorruptChunkError naming a segment file and an offset.  Returns how many raised."""
    assert res["len"] == len(ref.items)
    raised = 0
    for i, fp in enumerate(ref.fingerprints):
        got = res["records"].get(str(i))
        if got is not None:
            assert got == fp, f"position {i} read back wrong"
            continue
        kind, msg, path, offset = res["errors"][str(i)]
        assert int(ref.group_of_position[i]) in damaged, f"undamaged position {i}: {msg}"
        assert kind == "CorruptChunkError" and path and Path(path).name.startswith("seg-"), msg
        assert offset is not None or "missing" in msg or "does not list" in msg, msg
        raised += 1
    return raised


def lmdb_tables(path: Path) -> tuple[lmdb.Environment, dict[str, Any]]:
    env = lmdb.open(str(path / "index"), max_dbs=len(DBS) + 1, subdir=True)
    return env, {name: env.open_db(name.encode()) for name in DBS}


def edit_index(path: Path, fn: Callable[[Any, dict[str, Any]], None]) -> None:
    """Run ``fn(txn, dbs)`` in one write transaction of the archive's index, going through
    liblmdb (``dbs``: table name -> its LMDB database), and commit it."""
    env, dbs = lmdb_tables(path)
    try:
        with env.begin(write=True) as txn:
            fn(txn, dbs)
    finally:
        env.close()


def rewrite_value(path: Path, table: str, pick: Callable[[list[tuple[bytes, bytes]]], tuple[bytes, bytes | None]]) -> None:
    """Replace (or, for ``None``, delete) one value of a table, going through liblmdb."""
    def rewrite(txn: Any, dbs: dict[str, Any]) -> None:
        items = list(txn.cursor(db=dbs[table]))
        key, value = pick(items)
        if value is None:
            txn.delete(key, db=dbs[table])
        else:
            txn.put(key, value, db=dbs[table])
    edit_index(path, rewrite)
