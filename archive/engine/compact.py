"""Compaction: rewrite the live records into fresh segment files and swap the index over.

Live records are re-shredded in position order into new groups written to *new* files (the
existing ones are never modified), then one LMDB transaction replaces the group, chunk, file,
deletion and redirect tables and renumbers the keys.  Readers holding the old snapshot keep
reading the old files (still mapped, even once unlinked); readers that open or refresh later
see the compacted archive.  A crash before the swap leaves the old archive intact, and the
next writer deletes the unreferenced new files.  Column ids and shapes are kept.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from archive.engine.view import View
from archive.engine.writer import Writer

if TYPE_CHECKING:
    from archive.engine.archive import Archive



def _empty_like(view: View) -> View:
    fresh = View(view.directory, store=view.store)
    fresh.columns = list(view.columns)
    fresh.col_ids = dict(view.col_ids)
    fresh.shapes = {p: list(t) for p, t in view.shapes.items()}
    return fresh


def compact(ar: "Archive") -> None:
    w = ar._w()
    ar.commit()
    old = ar._view
    if not len(old.dead) and not old.redirect:
        return
    old_files = [fv.path for fv in old.files.values()]
    new = Writer(ar.path, ar.store, _empty_like(old), ar.settings,
                 start_file=max(old.files, default=-1))
    try:
        batch: list = []
        for rec in ar.scan():
            batch.append(rec)
            if len(batch) >= ar.settings.group_rows:
                new.add(new.shredder.shred(batch), len(batch))
                batch = []
        if batch:
            new.add(new.shredder.shred(batch), len(batch))
        new.flush_group()
        for path, _sid, _keys in new.shapes.new:
            new._col_id((path, "shape"))
        new.segw.sync()
        dead = old.dead

        def swap(txn):  # type: ignore[no-untyped-def]
            db = ar.store.db
            for name in ("groups", "colchunks", "segtab", "files", "dead", "redirect"):
                txn.drop(db[name], delete=False)
            rewritten = []
            for k, v in txn.cursor(db=db["keys"]):
                slot = int.from_bytes(v, "little")
                rewritten.append((k, slot - int(np.searchsorted(dead, slot))))
            for k, row in rewritten:
                txn.put(k, row.to_bytes(8, "little"), db=db["keys"])
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


