"""A consistent view of an archive: one commit's groups, files, columns, shapes and deletions.

A reader's view is built from one LMDB read transaction, which it keeps open so key lookups
and statistics come from the same commit as the data (``refresh()`` replaces the view).  The
writer's view is the same structure, extended in memory as it flushes groups it has not yet
committed.

Each segment file is mapped read-only up to its committed length and wrapped, with its chunk
table from the index, in a :class:`~archive.buffers.BufferWithSegments`; chunks are slices of
that map, never copies.  Index entries that place a chunk outside its file, or name a missing
or truncated file, do not stop the archive from opening: reading those chunks raises
:class:`CorruptChunkError` naming the file and offset, and every other chunk still reads.
"""
from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lmdb
import numpy as np

from archive.buffers import BufferWithSegments
from archive.engine.colrefs import ColumnRefs
from archive.codec.chunk import MAX_ITEMS
from archive.codec.shred import ITEM, SLOT_KIND
from archive.codec.zdict import MAX_DICTS, Dicts
from archive.codec.shred import Path as NodePath
from archive.errors import CorruptChunkError, CorruptIndexError
from archive.index.records import (
    CHUNK_REF, FILE_VALUE, NO_BUNDLE, U32, U32U32, U64, GroupEntry, unpack_columns, unpack_defs, unpack_dict, unpack_segments,
)
from archive.index.store import LMDB_DAMAGE, IndexStore
from archive.storage.bundles import BundleCache, unpack_bundle
from archive.storage.segments import map_file, segment_name

_EMPTY_SEGS = np.zeros((0, 2), dtype=np.uint64)


def path_from_json(raw: list) -> NodePath:
    return tuple(ITEM if c is None else c for c in raw)


def path_to_json(path: NodePath) -> list:
    return [None if c is ITEM else c for c in path]


@dataclass
class FileView:
    """One segment file as mapped by this view."""

    file_no: int
    path: Path
    length: int
    segments: np.ndarray  # (n, 2) uint64 (offset, length), as stored in the index
    buffer: BufferWithSegments | None = None
    #: segments that lie outside the bytes actually present (corrupt or truncated file)
    bad: np.ndarray | None = None
    error: str | None = None

    def map(self) -> None:
        """(Re)map the file and wrap it with its segment table; never raises for bad files."""
        try:
            size = os.path.getsize(self.path)
        except OSError:
            size, self.error = 0, f"segment file {self.path.name} is missing"
        avail = min(size, self.length)
        if size < self.length and self.error is None:
            self.error = f"segment file {self.path.name} is {size} bytes, committed {self.length}"
        segs = self.segments
        ends = segs[:, 0] + segs[:, 1]
        bad = (ends < segs[:, 0]) | (ends > avail)
        safe = np.where(bad[:, None], np.uint64(0), segs) if bad.any() else segs
        try:
            data = map_file(self.path, avail) if avail else b""
        except OSError:  # gone since getsize (a compaction unlinked it): a stale snapshot
            data, self.error = b"", f"segment file {self.path.name} is missing"
            bad = np.ones(len(segs), dtype=bool)
            safe = np.zeros_like(segs)
        self.buffer = BufferWithSegments(data, np.ascontiguousarray(safe, dtype=np.uint64))
        self.bad = bad

    @property
    def mapped(self) -> BufferWithSegments:
        """The file's buffer: :meth:`map` runs as each FileView is made."""
        assert self.buffer is not None, f"{self.path.name} read before map()"
        return self.buffer

    def chunk(self, seg: int) -> Any:
        """The stored bytes of segment ``seg`` (a chunk or a bundle; a zero-copy slice of the map)."""
        if not 0 <= seg < len(self.segments):
            raise CorruptChunkError(f"chunk {seg} not in the file's table of {len(self.segments)}",
                                    path=str(self.path))
        if self.bad is not None and self.bad[seg]:
            off, ln = (int(x) for x in self.segments[seg])
            why = self.error or f"chunk of {ln} bytes lies past the end of the file"
            raise CorruptChunkError(why, path=str(self.path), offset=off)
        return self.mapped[seg]


@dataclass
class View:
    """Everything a handle needs to find and read records (see the module docstring)."""

    directory: Path
    rows: int = 0
    group_first: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    group_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    group_refs: list[np.ndarray] = field(default_factory=list)
    #: each group's directory (its refs are ``group_refs[g]``; statistics, parents, first items)
    group_entries: list[GroupEntry] = field(default_factory=list)
    files: dict[int, FileView] = field(default_factory=dict)
    columns: list[tuple[NodePath, str]] = field(default_factory=list)
    col_ids: dict[tuple[NodePath, str], int] = field(default_factory=dict)
    shapes: dict[NodePath, list[tuple[str, ...]]] = field(default_factory=dict)
    dead: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    #: the archive's zstd dictionaries, and which column each was trained for
    dicts: Dicts = field(default_factory=Dicts)
    dict_of_col: dict[int, int] = field(default_factory=dict)
    #: decompressed bundles of small chunks (see chunk())
    bundles: BundleCache = field(default_factory=BundleCache, repr=False)
    redirect: dict[int, int] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)
    txn: lmdb.Transaction[bytes] | None = None
    store: IndexStore | None = None
    #: values other modules derive from the groups' chunk references, keyed by the deriving
    #: module (e.g. archive.engine.columns); cleared when add_group adds a group
    derived: dict[Any, Any] = field(default_factory=dict, repr=False)
    #: derived here, built on first use: refs_by_col per group, and every chunk reference
    #: sorted by column (see col_refs); add_group resets what it changes
    _by_col: dict[int, "ColumnRefs"] = field(default_factory=dict, repr=False)
    _col_index: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @property
    def index_store(self) -> IndexStore:
        """The index this view reads: :meth:`load` and compaction always give a view one."""
        assert self.store is not None, "a view made without its index store"
        return self.store

    def chunk(self, ref: np.void) -> Any:
        """The bytes of the chunk ``ref`` names (a :data:`CHUNK_REF`): a slice of its segment
        file's map, or of its decompressed bundle.  A defect is CorruptChunkError."""
        fv = self.files.get(int(ref["file"]))
        if fv is None:
            raise CorruptChunkError("the index names a segment file it does not list")
        at = int(ref["at"])
        if at == NO_BUNDLE:
            return fv.chunk(int(ref["seg"]))
        key = (fv.file_no, int(ref["seg"]))
        raw = self.bundles.get(key)
        if raw is None:
            raw = unpack_bundle(fv.chunk(key[1]))
            self.bundles.put(key, raw)
        end = at + int(ref["stored"])
        if end > len(raw):
            raise CorruptChunkError(f"chunk of {int(ref['stored'])} bytes at {at} lies past the end "
                                    f"of its bundle of {len(raw)} bytes")
        return memoryview(raw)[at:end]

    # --- loading ---------------------------------------------------------------------------
    @classmethod
    def load(cls, store: IndexStore, directory: Path, txn: lmdb.Transaction[bytes]) -> View:
        try:
            return cls._load(store, directory, txn)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError,
                struct.error) + LMDB_DAMAGE as e:
            # Whatever a garbled entry trips over while being parsed is a corrupt index.
            raise CorruptIndexError(f"unreadable index entry: {type(e).__name__}: {e}") from None

    @classmethod
    def _load(cls, store: IndexStore, directory: Path, txn: lmdb.Transaction[bytes]) -> View:
        v = cls(directory, txn=txn, store=store)
        db = store.db
        state = json.loads(txn.get(b"state", db=db["meta"]) or b"{}")
        v.rows = int(state.get("rows", 0))
        if v.rows < 0:
            raise CorruptIndexError(f"the index state says {v.rows} rows")
        try:
            v.attrs = json.loads(txn.get(b"attrs", db=db["meta"]) or b"{}")
        except ValueError as e:
            raise CorruptIndexError(f"stored attrs unreadable: {e}") from None
        v._load_groups(txn, db["groups"])
        v._load_files(txn, db["files"], db["segtab"])
        for k, raw in txn.cursor(db=db["columns"]):
            first = U32.unpack(k)[0]
            if first != len(v.columns):
                raise CorruptIndexError(f"column ids are not dense: found {first}, expected {len(v.columns)}")
            for cid, (path, slot) in enumerate(unpack_columns(raw, f"columns from {first}"), first):
                if slot not in SLOT_KIND:
                    raise CorruptIndexError(f"column {cid} has slot {str(slot)[:40]}")
                v.columns.append((path_from_json(path), slot))
                v.col_ids[v.columns[-1]] = cid
        for k, raw in txn.cursor(db=db["shapes"]):
            v._add_shapes(unpack_defs(raw, f"shape batch {U32.unpack(k)[0]}"))
        v._load_dicts(txn, db["dicts"])
        v.dead = np.array([U64.unpack(k)[0] for k in txn.cursor(db=db["dead"]).iternext(values=False)],
                          dtype=np.int64)
        if len(v.dead) and v.dead[-1] >= v.rows:
            raise CorruptIndexError(f"deleted row {int(v.dead[-1])} is past the {v.rows} rows")
        v.redirect = {U64.unpack(k)[0]: int.from_bytes(val, "little")
                      for k, val in txn.cursor(db=db["redirect"])}
        for slot, row in v.redirect.items():
            if slot >= v.rows or row >= v.rows:
                raise CorruptIndexError(f"redirect {slot} -> {row} is past the {v.rows} rows")
        return v

    def _add_shapes(self, batch: list[Any]) -> None:
        """Add one stored batch of shapes: ``[shape column, first shape id, key lists]`` items."""
        for item in batch:
            if not (isinstance(item, list) and len(item) == 3 and isinstance(item[2], list)
                    and all(type(x) is int for x in item[:2])):
                raise CorruptIndexError(f"shape batch item {str(item)[:60]} is not "
                                        "[column, first shape, key lists]")
            cid, first, tables = item
            if not 0 <= cid < len(self.columns) or self.columns[cid][1] != "shape":
                raise CorruptIndexError(f"shapes of column {cid}, which is not a shape column")
            table = self.shapes.setdefault(self.columns[cid][0], [])
            if first != len(table):
                raise CorruptIndexError(f"shape ids of column {cid} are not dense")
            for keys in tables:
                if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
                    raise CorruptIndexError(f"shape {len(table)} of column {cid} is not a list of str keys")
                table.append(tuple(keys))

    def _load_dicts(self, txn: lmdb.Transaction, db: Any) -> None:
        items = []
        for k, raw in txn.cursor(db=db):
            dict_id = U32.unpack(k)[0]
            col, data = unpack_dict(raw, dict_id)
            if not 1 <= dict_id <= MAX_DICTS or col >= len(self.columns):
                raise CorruptIndexError(f"dictionary {dict_id} of column {col} is out of range")
            items.append((dict_id, data))
            self.dict_of_col[col] = dict_id
        self.dicts = Dicts(items)

    def add_dict(self, col: int, raw: bytes) -> int:
        """Hold a dictionary a writer just trained for column ``col``; returns its id."""
        dict_id = self.dicts.add(raw)
        self.dict_of_col[col] = dict_id
        return dict_id

    def _load_groups(self, txn: lmdb.Transaction, db: Any) -> None:
        first: list[int] = []
        nrows: list[int] = []
        expect = 0
        for k, raw in txn.cursor(db=db):
            g = U64.unpack(k)[0]
            entry = GroupEntry.unpack(raw, g)
            f, n = entry.first_row, entry.rows
            if n > MAX_ITEMS:
                raise CorruptIndexError(f"group {g} claims {n} rows, the limit is {MAX_ITEMS}")
            if g != len(first) or f != expect:
                raise CorruptIndexError(f"group {g} starts at row {f}, expected group {len(first)} at {expect}")
            first.append(f)
            nrows.append(n)
            self.group_refs.append(entry.refs)
            self.group_entries.append(entry)
            expect = f + n
        if expect != self.rows:
            raise CorruptIndexError(f"groups hold {expect} rows, the index state says {self.rows}")
        self.group_first = np.array(first, dtype=np.int64)
        self.group_rows = np.array(nrows, dtype=np.int64)

    def _load_files(self, txn: lmdb.Transaction, files_db: Any, segtab_db: Any) -> None:
        pieces: dict[int, list[np.ndarray]] = {}
        for k, raw in txn.cursor(db=segtab_db):
            fno, first = U32U32.unpack(k)
            arr = unpack_segments(raw, f"segment table of file {fno} at {first}")
            if first != sum(len(p) for p in pieces.get(fno, [])):
                raise CorruptIndexError(f"segment table of file {fno} is malformed at {first}")
            pieces.setdefault(fno, []).append(arr)
        for k, raw in txn.cursor(db=files_db):
            fno = U32.unpack(k)[0]
            length, count = FILE_VALUE.unpack(raw)
            segs = np.concatenate(pieces.get(fno, [_EMPTY_SEGS])).astype(np.uint64)
            if len(segs) != count:
                raise CorruptIndexError(f"file {fno} lists {count} chunks, its table holds {len(segs)}")
            fv = FileView(fno, self.directory / segment_name(fno), length, segs)
            fv.map()
            self.files[fno] = fv

    # --- the writer's own additions ----------------------------------------------------------
    def add_group(self, entry: GroupEntry, added: dict[int, list[tuple[int, int]]],
                  lengths: dict[int, int]) -> None:
        """Make a just-flushed (uncommitted) group readable through this view."""
        rows = entry.rows
        self.group_first = np.append(self.group_first, self.rows)
        self.group_rows = np.append(self.group_rows, rows)
        self.group_refs.append(entry.refs)
        self.group_entries.append(entry)
        self._col_index = None
        self.derived.clear()
        self.rows += rows
        for fno, pairs in added.items():
            fv = self.files.get(fno)
            new = np.array(pairs, dtype=np.uint64).reshape(-1, 2)
            if fv is None:
                fv = self.files[fno] = FileView(fno, self.directory / segment_name(fno), 0, _EMPTY_SEGS)
            fv.segments = np.concatenate([fv.segments, new])
            fv.length = lengths[fno]
            fv.map()

    def add_dead(self, rows: list[int]) -> None:
        self.dead = np.union1d(self.dead, np.asarray(rows, dtype=np.int64))

    def renew_txn(self) -> None:
        """After the writer's commit: read keys and statistics from the new commit."""
        if self.txn is not None:
            self.txn.abort()
        self.txn = self.index_store.begin()

    def drop_txn(self) -> None:
        """Give the transaction up (the map is about to grow); the next lookup renews it."""
        if self.txn is not None:
            self.txn.abort()
            self.txn = None

    def get_txn(self) -> lmdb.Transaction[bytes]:
        if self.txn is None:
            self.txn = self.index_store.begin()
        return self.txn

    def add_column(self, cid: int, path: NodePath, slot: str) -> None:
        self.columns.append((path, slot))
        self.col_ids[(path, slot)] = cid
        self.derived.clear()

    # --- lookups ---------------------------------------------------------------------------
    def live_count(self) -> int:
        return self.rows - len(self.dead)

    def slots_of(self, positions: np.ndarray) -> np.ndarray:
        """Logical positions (already in 0..live_count-1) → slot rows, vectorized."""
        if not len(self.dead):
            return positions
        adj = self.dead - np.arange(len(self.dead), dtype=np.int64)
        return positions + np.searchsorted(adj, positions, side="right")

    def content_rows(self, slots: np.ndarray) -> np.ndarray:
        if not self.redirect:
            return slots
        return np.fromiter((self.redirect.get(s, s) for s in slots.tolist()), dtype=np.int64,
                           count=len(slots))

    def group_of(self, rows: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.group_first, rows, side="right") - 1

    def chunk_stats(self, col: int, group: int) -> list[dict]:
        """Statistics of each chunk of a column in a group, in part order."""
        entry = self.group_entries[group]
        stats = entry.stats()
        return [stats[i] for i in np.flatnonzero(entry.refs["col"] == col).tolist()]

    def column_items(self, col: int) -> int:
        """How many values column ``col`` holds in all groups of this view."""
        return int(self.col_refs(col)[1]["count"].sum())

    def refs_by_col(self, group: int) -> "ColumnRefs":
        """A group's chunk references by column id, each column's in part order (cached)."""
        out = self._by_col.get(group)
        if out is None:
            out = self._by_col[group] = ColumnRefs(self.group_refs[group])
        return out

    def col_refs(self, col: int) -> tuple[np.ndarray, np.ndarray]:
        """Every chunk of column ``col``: (its group, its reference), by group then part order.

        Built for all columns in one pass over the groups' references on first use (and again
        after ``add_group``), so resolving a column over the whole archive costs two binary
        searches.
        """
        if self._col_index is None:
            refs = np.concatenate(self.group_refs) if self.group_refs else np.zeros(0, CHUNK_REF)
            groups = np.repeat(np.arange(len(self.group_refs), dtype=np.int64),
                               [len(r) for r in self.group_refs])
            order = np.argsort(refs["col"], kind="stable")
            self._col_index = (refs["col"][order], groups[order], refs[order])
        cols, groups, srt = self._col_index
        a, b = np.searchsorted(cols, [col, col + 1]).tolist()
        return groups[a:b], srt[a:b]

    def close(self) -> None:
        if self.txn is not None:
            self.txn.abort()
            self.txn = None
        self.files.clear()

