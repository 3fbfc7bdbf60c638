"""Compaction: rewrite the live records into fresh segment files and swap the index over.

It runs when records were deleted or replaced, or when neighbouring groups would fit in one
(:func:`mergeable_groups`: small commits); otherwise there is nothing to gain and it returns.

Live records are re-shredded in position order into new groups written to *new* files (the
existing ones are never modified), then one LMDB transaction replaces the group, segment,
file, dictionary, deletion and redirect tables and rebuilds the key index as one run (each key's source decided
afresh from the record it now keys).  Readers holding the old snapshot keep
reading the old files (still mapped, even once unlinked); readers that open or refresh later
see the compacted archive.  A crash before the swap leaves the old archive intact, and the
next writer deletes the unreferenced new files.  Column ids and shapes are kept.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from archive.engine.view import View
from archive.engine.writer import Writer
from archive.errors import CorruptIndexError
from archive.index import keyruns, keys as keyindex
from archive.index.records import decode_key

if TYPE_CHECKING:
    from archive.engine.archive import Archive


def _empty_like(view: View) -> View:
    fresh = View(view.directory, store=view.store)
    fresh.columns = list(view.columns)
    fresh.col_ids = dict(view.col_ids)
    fresh.shapes = {p: list(t) for p, t in view.shapes.items()}
    # No dictionaries: the new generation trains its own (its chunks are full-size: usually
    # none) and the swap replaces the table.  Readers of the old generation keep theirs: a
    # view loads every dictionary when it is built.
    return fresh


def live_keys(ar: "Archive") -> dict[int, bytes]:
    """Slot -> encoded key of every live keyed record (committed state, verified)."""
    view, ki = ar._view, ar._keyidx
    txn = view.get_txn()
    fps, slots = ki.entries(txn)
    keep = keyruns.live_mask(slots, view.dead)
    if len(slots) and int(slots.max()) >= view.rows:
        raise CorruptIndexError(f"a key run entry maps to row {int(slots.max())}, past the {view.rows} rows")
    fps, slots = fps[keep], slots[keep]
    stored = ki.stored_keys(txn, slots.tolist(), view.group_first, ar._field_values)
    man = ki.manifest(txn)
    salt = man.salt if man is not None else b""
    for fp, s in zip(fps.tolist(), slots.tolist()):
        k = stored.get(s)
        if k is None or keyruns.fingerprint(salt, k) != fp:
            raise CorruptIndexError(f"the key entry of row {s} does not match the row's stored key")
    return {s: stored[s] for s in slots.tolist()}  # type: ignore[misc]


def _add(new: Writer, batch: list, keys: list[Any]) -> None:
    """Add a batch of records; ``keys[i]``: the encoded key of record i or None."""
    first = new.total_rows
    new.add(new.shredder.shred(batch), len(batch))
    i = 0
    while i < len(batch):
        if keys[i] is None:
            i += 1
            continue
        j = i
        while j < len(batch) and keys[j] is not None:
            new.p.keys[keys[j]] = first + j
            j += 1
        new.p.key_batches.append(keyindex.describe_batch(
            first + i, batch[i:j], [decode_key(k) for k in keys[i:j]]))
        i = j


def mergeable_groups(view: View, group_rows: int, group_bytes: int) -> bool:
    """Whether two neighbouring groups would fit in one (an archive committed a few records at
    a time has a small group per commit; its chunks are small and compress poorly)."""
    rows = view.group_rows
    if len(rows) < 2:
        return False
    raw = np.array([int(r["raw"].sum()) for r in view.group_refs], dtype=np.int64)
    return bool(((rows[1:] + rows[:-1] <= group_rows) & (raw[1:] + raw[:-1] <= group_bytes)).any())


def compact(ar: "Archive") -> None:
    w = ar._w()
    ar.commit()
    old = ar._view
    if not len(old.dead) and not old.redirect and not mergeable_groups(
            old, ar.settings.group_rows, ar.settings.group_bytes):
        return
    old_files = [fv.path for fv in old.files.values()]
    slot_keys = live_keys(ar)
    slots = old.slots_of(np.arange(old.live_count(), dtype=np.int64)).tolist()
    new = Writer(ar.path, ar.store, _empty_like(old), ar.settings,
                 start_file=max(old.files, default=-1))
    try:
        batch: list = []
        for pos, rec in enumerate(ar.scan()):
            batch.append(rec)
            if len(batch) >= ar.settings.group_rows:
                _add(new, batch, [slot_keys.get(s) for s in slots[pos + 1 - len(batch):pos + 1]])
                batch = []
        if batch:
            _add(new, batch, [slot_keys.get(s) for s in slots[len(slots) - len(batch):]])
        new.flush_group()
        for path, _sid, _keys in new.shapes.new:
            new._col_id((path, "shape"))
        new.segw.sync()

        def swap(txn):  # type: ignore[no-untyped-def]
            db = ar.store.db
            for name in ("groups", "segtab", "files", "dicts", "dead", "redirect"):
                txn.drop(db[name], delete=False)
            keyindex.reset_for_rebuild(txn, db["keys"])
            new._write_index(txn)

        ar.store.write(swap)
    except BaseException:
        new.rollback(_empty_like(old))
        new.close()
        raise
    new.close()
    w.close()
    ar._view = ar._load_view()
    old.close()
    for p in old_files:
        p.unlink(missing_ok=True)
    ar._writer = Writer(ar.path, ar.store, ar._view, ar.settings)
    ar._drop_cache()


