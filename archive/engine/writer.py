"""The writer: pending records, group flushes into segment files, and the commit.

Records are shredded as they arrive (so a bad record fails its own call and nothing else) into
the *pending group*.  When the group reaches ``group_rows`` records or ``group_bytes`` of raw
column data it is *flushed*: each column is encoded into one or more chunks appended to the
current segment file.  Nothing is visible to other handles until :meth:`Writer.commit`, which

1. flushes the pending group,
2. fsyncs the segment files (and the directory when a file was created),
3. writes every index change of the batch in one LMDB transaction and commits it (durable).

A crash before step 3 completes leaves the index at the previous commit; the bytes written
past the committed file lengths are trimmed when the next writer opens.  A failure inside
``commit`` (disk full, size limit) rolls everything uncommitted back and re-raises, so the
archive stays at its last commit.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lmdb
import numpy as np

from archive.codec import chunk as _chunk
from archive.codec.chunk import ChunkEncoder, EncodedChunk
from archive.codec.registry import Kind
from archive.codec.shred import SLOT_KIND, ColumnId, ShapeTable, Shredder, path_str, to_array
from archive.codec.zdict import MAX_DICTS, DictTrainer
from archive.engine.chunking import Choice, chunk_pieces, encode_reusing, parent_column
from archive.engine.settings import Settings
from archive.engine.view import View, path_to_json
from archive.errors import BadInputError
from archive.index.records import (
    CHUNK_REF, FILE_VALUE, NO_BUNDLE, NO_PARENT, REF_FILE, REF_SEG, U32, U32U32, U64, GroupEntry, chunk_stats, pack_columns, pack_defs, pack_dict, pack_segments,
)
from archive.index import keys as keyindex
from archive.index.store import IndexStore
from archive.storage.bundles import BundlePacker
from archive.storage.segments import SegmentWriter


@dataclass
class _Flushed:
    group: int
    entry: GroupEntry


@dataclass
class Pending:
    """Everything written since the last commit."""

    columns: dict[ColumnId, list] = field(default_factory=dict)
    rows: int = 0
    raw_bytes: int = 0
    flushed: list[_Flushed] = field(default_factory=list)
    new_columns: list[tuple[int, tuple, str]] = field(default_factory=list)
    segtab: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    #: encoded key -> slot for keys added (None: deleted) since the last commit
    keys: dict[bytes, int | None] = field(default_factory=dict)
    #: the keys of the records added, for the groups' key sources
    key_batches: list[keyindex.KeyBatch] = field(default_factory=list)
    dead: set[int] = field(default_factory=set)
    redirect: dict[int, int | None] = field(default_factory=dict)
    attrs: dict[str, Any] | None = None
    #: dictionaries trained since the last commit: (dictionary id, column id)
    dicts: list[tuple[int, int]] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.rows or self.flushed or self.keys or self.dead or self.redirect
                    or self.attrs is not None)


class Writer:
    """Owns the write side of one open archive (the caller holds the writer lock)."""

    def __init__(self, directory: Path, store: IndexStore, view: View, settings: Settings,
                 start_file: int | None = None) -> None:
        """``start_file``: write into new files numbered after it, with column item positions
        starting from 0 (compaction builds a whole new generation this way)."""
        self.directory = directory
        self.start_file = start_file
        self.store = store
        self.settings = settings
        self.encoder = ChunkEncoder(settings.zstd_level)
        self.view = view
        self._reset_from(view)

    def _reset_from(self, view: View) -> None:
        self.view = view
        self.shapes = ShapeTable()
        for path, table in view.shapes.items():
            self.shapes.by_node[path] = {keys: i for i, keys in enumerate(table)}
        self.shredder = Shredder(self.shapes)
        self.col_ids = dict(view.col_ids)
        self.n_columns = len(view.columns)
        self.col_next_item: dict[int, int] = {}
        self.encoder.dicts = view.dicts
        self.trainer = (DictTrainer(self.settings.zstd_dict_bytes, self.settings.zstd_level)
                        if self.settings.zstd_dict_bytes else None)
        #: per column id (and per key source stream, see _encode_keys): its last choices
        self._choice: dict[Any, Choice] = {}
        self.p = Pending()
        last = max(view.files) if view.files else -1
        self.committed_file = (last, view.files[last].length if last >= 0 else 0)
        if last >= 0 and view.files[last].error:
            # The newest file is missing or shorter than committed: never write into it (that
            # would recreate it or leave a hole); continue in a new file.
            self.committed_file = (last, -1)
        self.file_chunks = {f: len(fv.segments) for f, fv in view.files.items()}
        self.file_length = {f: fv.length for f, fv in view.files.items()}
        self._announced = 0
        if self.start_file is not None:
            self.committed_file = (self.start_file, -1)
            self.segw = SegmentWriter(self.directory, self.start_file, -1, self.settings.segment_bytes)
        else:
            self.segw = SegmentWriter(self.directory, last, self.committed_file[1], self.settings.segment_bytes)

    # --- rows --------------------------------------------------------------------------------
    @property
    def total_rows(self) -> int:
        return self.view.rows + self.p.rows

    @staticmethod
    def check(columns: dict[ColumnId, list]) -> int:
        """Refuse, before anything is merged, a value no chunk can hold (one chunk's payload is
        limited to ``MAX_RAW_BYTES``); without this the batch is added and every commit fails.
        Returns the batch's raw size as :meth:`add` counts it (one pass over the lengths)."""
        limit = _chunk.MAX_RAW_BYTES - 4096
        raw = 0
        for (path, slot), values in columns.items():
            if SLOT_KIND[slot] not in ("str", "bytes"):
                raw += 8 * len(values)
                continue
            chars = sum(map(len, values))
            raw += chars + 4 * len(values)
            if chars * 4 <= limit:  # no value can exceed (UTF-8: at most 4 bytes a character)
                continue
            for v in values:
                n = len(v.encode("utf-8", "surrogatepass")) if isinstance(v, str) else len(v)
                if n > limit:
                    raise BadInputError(f"a value of {n} bytes at {path_str(path)} exceeds the "
                                        f"largest storable value ({limit} bytes)")
        return raw

    def add(self, columns: dict[ColumnId, list], n: int, raw: int | None = None) -> int:
        """Merge a shredded batch of ``n`` records; returns the row of the first one.  ``raw``:
        the batch's raw size when the caller has it from :meth:`check`."""
        first = self.total_rows
        pend = self.p.columns
        for cid, values in columns.items():
            pend.setdefault(cid, []).extend(values)
        self.p.rows += n
        self.p.raw_bytes += self.check(columns) if raw is None else raw
        if self.p.rows >= self.settings.group_rows or self.p.raw_bytes >= self.settings.group_bytes:
            self.flush_group()
        return first

    def _col_id(self, cid: ColumnId) -> int:
        i = self.col_ids.get(cid)
        if i is None:
            i = self.col_ids[cid] = self.n_columns
            self.n_columns += 1
            self.p.new_columns.append((i, cid[0], cid[1]))
        return i

    def _next_item(self, col: int) -> int:
        n = self.col_next_item.get(col)
        if n is None and (self.start_file is not None or col >= len(self.view.columns)):
            n = 0  # a column created by this writer has no chunks yet
        if n is None:
            n = self.view.column_items(col)
        return n


    def _encode(self, col: int, kind: Kind, values: np.ndarray) -> EncodedChunk:
        """Encode a chunk of column ``col`` (see :func:`encode_reusing`), with the column's
        dictionary when it has one; while it has none, the trainer sees its payloads."""
        dict_id = self.view.dict_of_col.get(col, 0)
        enc = encode_reusing(self.encoder, self._choice, col, kind, values, dict_id,
                             self.settings.bundle_bytes)
        if self.trainer is not None and not dict_id and enc.raw_len > self.settings.bundle_bytes:
            trained = self.trainer.offer(col, enc.payload)
            if trained is not None and len(self.view.dicts) < MAX_DICTS:  # else: ids exhausted
                self.p.dicts.append((self.view.add_dict(col, trained), col))
        return enc

    def _append(self, data: bytes, added: dict[int, list[tuple[int, int]]]) -> tuple[int, int]:
        """Append one segment (a chunk or a bundle); its (file, segment number)."""
        fno, off = self.segw.append(data)
        seg = self.file_chunks.get(fno, 0)
        self.file_chunks[fno] = seg + 1
        self.p.segtab.setdefault(fno, []).append((off, len(data)))
        added.setdefault(fno, []).append((off, len(data)))
        self.file_length[fno] = off + len(data)
        return fno, seg

    def flush_group(self) -> None:
        """Encode the pending group into chunks in the segment files (not yet committed):
        small chunks into bundles (see :mod:`archive.storage.bundles`), the others alone."""
        if not self.p.rows:
            return
        group = len(self.view.group_first)
        refs: list[list[int]] = []
        firsts: list[int] = []
        parents: list[int] = []
        stats: list[dict[str, Any]] = []
        added: dict[int, list[tuple[int, int]]] = {}
        bundles = BundlePacker(self.settings.zstd_level, lambda data: self._append(data, added))
        for cid, values in sorted(self.p.columns.items(), key=lambda kv: self._col_id(kv[0])):
            col = self._col_id(cid)
            kind = SLOT_KIND[cid[1]]
            arr = to_array(cid[1], values)
            parent = parent_column(*cid)
            parent_id = NO_PARENT if parent is None else self._col_id(parent)
            cut = chunk_pieces(kind, arr, self.settings, self.p.raw_bytes)  # bound: the group's
            for a, b in cut:
                piece = arr[a:b]
                enc = self._encode(col, kind, piece)
                ref = [col, 0, 0, b - a, enc.raw_len, len(enc.data), enc.codec_id, NO_BUNDLE]
                if enc.raw_len <= self.settings.bundle_bytes:
                    bundles.add(enc.data, ref)
                else:
                    ref[REF_FILE], ref[REF_SEG] = self._append(enc.data, added)
                refs.append(ref)
                first = self._next_item(col)
                self.col_next_item[col] = first + (b - a)
                firsts.append(first)
                parents.append(parent_id)
                stats.append(chunk_stats(kind, piece, cid[1]))
        bundles.close()
        self.segw.flush()
        ref_arr = np.array(list(map(tuple, refs)), dtype=CHUNK_REF) if refs else np.zeros(0, CHUNK_REF)
        entry = GroupEntry.build(self.view.rows, self.p.rows, ref_arr, firsts, parents, stats)
        self.p.flushed.append(_Flushed(group, entry))
        self.view.add_group(entry, added, self.file_length)
        for cno, path, slot in self.p.new_columns[self._announced:]:
            self.view.add_column(cno, path, slot)
        self._announced = len(self.p.new_columns)
        self.p.columns, self.p.rows, self.p.raw_bytes = {}, 0, 0

    # --- commit ------------------------------------------------------------------------------
    def commit(self) -> bool:
        """Make everything pending durable; returns False when there was nothing to commit."""
        if self.p.empty() and not self.shapes.new:
            return False
        self.flush_group()
        for path, _sid, _keys in self.shapes.new:
            self._col_id((path, "shape"))
        # Columns created just above (shapes seen only in a refused batch) must reach the view
        # too, or its column list falls out of step with the ids of later columns.
        for cid, path, slot in self.p.new_columns[self._announced:]:
            self.view.add_column(cid, path, slot)
        self._announced = len(self.p.new_columns)
        self.segw.sync()
        self.store.write(self._write_index)
        for path, sid, keys in self.shapes.take_new():  # the view's table stays the index's
            table = self.view.shapes.setdefault(path, [])
            assert sid == len(table), "shape ids are dense per node"
            table.append(keys)
        self.p = Pending()
        self._announced = 0
        self.committed_file = (self.segw.file_no, self.segw.length)
        return True

    def _write_index(self, txn: lmdb.Transaction[bytes]) -> None:
        db = self.store.db
        # Definitions go in batches (ids are dense, so a batch is keyed by its first id).
        if self.p.new_columns:
            txn.put(U32.pack(self.p.new_columns[0][0]),
                    pack_columns([(path_to_json(path), slot) for _, path, slot in self.p.new_columns]),
                    db=db["columns"])
        by_col: dict[int, list[tuple[int, tuple[str, ...]]]] = {}
        for path, sid, keys in self.shapes.new:
            by_col.setdefault(self.col_ids[(path, "shape")], []).append((sid, keys))
        if by_col:  # one batch for every node's new shapes (key lists repeat across nodes)
            with txn.cursor(db=db["shapes"]) as cur:
                batch = U32.unpack(cur.key())[0] + 1 if cur.last() else 0
            txn.put(U32.pack(batch), pack_defs([[col, new[0][0], [list(keys) for _, keys in new]]
                                                for col, new in by_col.items()]), db=db["shapes"])
        for fno, pairs in self.p.segtab.items():
            first = self.file_chunks[fno] - len(pairs)
            txn.put(U32U32.pack(fno, first), pack_segments(np.array(pairs, dtype="<u8")), db=db["segtab"])
        for fno in self.p.segtab:
            txn.put(U32.pack(fno), FILE_VALUE.pack(self.file_length[fno], self.file_chunks[fno]),
                    db=db["files"])
        for f in self.p.flushed:
            txn.put(U64.pack(f.group), f.entry.pack(), db=db["groups"])
        for dict_id, col in self.p.dicts:
            txn.put(U32.pack(dict_id), pack_dict(col, self.view.dicts.raw(dict_id)), db=db["dicts"])
        self._write_keys(txn, db["keys"])
        for row in self.p.dead:
            txn.put(U64.pack(row), b"", db=db["dead"])
        for slot, target in self.p.redirect.items():
            if target is None:
                txn.delete(U64.pack(slot), db=db["redirect"])
            else:
                txn.put(U64.pack(slot), target.to_bytes(8, "little"), db=db["redirect"])
        if self.p.attrs is not None:
            txn.put(b"attrs", json.dumps(self.p.attrs).encode(), db=db["meta"])
        state: dict[str, Any] = json.loads(txn.get(b"state", db=db["meta"]) or b"{}")
        state["rows"] = self.total_rows
        txn.put(b"state", json.dumps(state).encode(), db=db["meta"])

    def _write_keys(self, txn: lmdb.Transaction, db: Any) -> None:
        """The key sources of the flushed groups and one run of the keys added (see
        :mod:`archive.index.keys`); deleted keys need nothing: their slots are dead."""
        keyindex.write_commit(txn, db, self.p.keys, self.p.key_batches,
                              [(f.group, f.entry.first_row, f.entry.rows) for f in self.p.flushed],
                              self.view.dead, self._encode_keys)

    def _encode_keys(self, stream: str, kind: Kind, values: np.ndarray) -> bytes:
        """A chunk of the key sources' ``stream`` (see :data:`archive.index.keysource.ChunkEncode`),
        reusing that stream's choices like a column does (its own entry in the choices)."""
        return encode_reusing(self.encoder, self._choice, ("keys", stream), kind, values).data

    def rollback(self, view: View) -> None:
        """Discard everything uncommitted (segment bytes included); ``view`` is the last commit."""
        fno, length = self.committed_file
        self.segw.rollback(fno, length)
        self.segw.close()
        self._reset_from(view)

    def close(self) -> None:
        self.segw.close()
