"""Reading records out of groups: the decoded-group cache, batch decoding, row lookups.

A mixin of :class:`archive.engine.archive.Archive` (it uses the handle's view, writer and
settings).  Chunks are decoded through :mod:`archive.engine.chunkio`; a group's reader decodes
the columns it was asked for at once, in one batch, and any other column when first needed.
The cache holds whole group readers, evicted least-recently-used past ``cache_bytes``.
"""
from __future__ import annotations

import copy
from collections import OrderedDict
from typing import TYPE_CHECKING, Final

import numpy as np

from archive.codec.assemble import GroupReader, Projection
from archive.codec.dict_rows import scatter
from archive.codec.lazy import Column, concat
from archive.codec.shred import SLOT_KIND, TAG_SLOT, Path, Tag
from archive.engine import chunkio
from archive.engine.mutex import serialized
from archive.errors import ArchiveError, CorruptIndexError
from archive.gcpause import gc_paused

if TYPE_CHECKING:
    from archive.engine.view import View
    from archive.engine.writer import Writer

#: The tag of the values each slot column holds (every tag but NULL has one slot).
_SLOT_TAG: Final = {s: int(t) for t, s in TAG_SLOT.items()}
_TAG_COLUMNS: Final = "tag columns"  # key of derived_tag's table in View.derived
_NULL: Final = int(Tag.NULL)


def column_counts(refs: np.ndarray) -> dict[int, int]:
    """How many values each column holds in a group, from its chunk references."""
    out: dict[int, int] = {}
    for col, count in zip(refs["col"].tolist(), refs["count"].tolist()):
        out[col] = out.get(col, 0) + count
    return out


def derived_tag(view: View, counts: dict[int, int], path: Path) -> tuple[int, int] | None:
    """``(tag, count)`` when every one of the ``count`` values of ``path`` in a group carries
    ``tag`` and the group's chunk references alone tell it (``counts``: its values per column,
    see :func:`column_counts`); ``None`` when the tag column must be decoded.

    Every value of tag ``t`` stores one item in the ``TAG_SLOT[t]`` column of its path (null
    values none), so when one slot column holds as many items as the tag column, every tag is
    that slot's; when no slot column holds any, every value is null.  Decoding the slot
    columns still checks their counts against the references.
    """
    entry = _tag_columns(view).get(path)
    if entry is None or not (total := counts.get(entry[0], 0)):
        return None
    found = _NULL
    for tag, col in entry[1]:
        count = counts.get(col, 0)
        if count:
            if count != total or found != _NULL:
                return None
            found = tag
    return found, total


def _tag_columns(view: View) -> dict[Path, tuple[int, list[tuple[int, int]]]]:
    """Per path with a tag column: its id and ``(tag, column id)`` of each of its slot
    columns (kept in the view's ``derived`` cache, which new columns clear)."""
    table = view.derived.get(_TAG_COLUMNS)
    if table is None:
        tags = {path: cid for cid, (path, slot) in enumerate(view.columns) if slot == "tag"}
        table = {path: (cid, []) for path, cid in tags.items()}
        for cid, (path, slot) in enumerate(view.columns):
            if slot in _SLOT_TAG and path in table:
                table[path][1].append((_SLOT_TAG[slot], cid))
        view.derived[_TAG_COLUMNS] = table
    return table


class GroupReading:
    """Group readers and row lookups for an archive handle."""

    _view: "View"
    _writer: "Writer | None"
    _groups: OrderedDict[int, tuple[GroupReader, int]]
    _cached_bytes: int
    _pending_reader: GroupReader | None
    cache_bytes: int
    threads: int

    @serialized
    def _read_rows(self, rows: np.ndarray, projection: Projection = None) -> list:
        """Records at physical rows (any order); groups are visited once each, in row order."""
        if not len(rows):
            return []
        if len(rows) == 1:
            reader, first = self._group(int(self._group_of(rows)[0]))
            return self._records_at(reader, rows - first, projection)
        order = np.argsort(rows, kind="stable")
        srt = rows[order]
        groups = self._group_of(srt)
        bounds = np.flatnonzero(np.diff(groups)) + 1
        starts = [0, *bounds.tolist()]
        recs: list = []
        # Paused across groups, not only inside each group's assembly: re-enabling between
        # groups lets a collection rescan every record built so far (see records_at).
        with gc_paused():
            for a, b in zip(starts, starts[1:] + [len(srt)]):
                reader, first = self._group(int(groups[a]))
                recs += self._records_at(reader, srt[a:b] - first, projection)
        out = scatter(recs, order, len(rows))
        # A repeated position is assembled once; its other places get copies, so every
        # returned record is a separate object (mutating one never changes another).
        for i in order[np.flatnonzero(srt[1:] == srt[:-1]) + 1].tolist():
            out[i] = copy.deepcopy(out[i])
        return out

    def _records_at(self, reader: GroupReader, local: np.ndarray, projection: Projection) -> list:
        try:
            return reader.records_at(local, projection)
        except ArchiveError:
            self._drop_cache()  # a reader that failed part-way may keep unchecked state cached
            raise

    def _group_of(self, rows: np.ndarray) -> np.ndarray:
        g = self._view.group_of(rows)
        if self._writer is not None and self._writer.p.rows:
            g = np.where(rows >= self._view.rows, len(self._view.group_first), g)
        return g

    @serialized
    def _group(self, g: int, columns: set[int] | None = None) -> tuple[GroupReader, int]:
        """The reader of group ``g`` and its first row (the writer's pending group included).

        A new reader decodes ``columns`` (column ids; all when None) at once, in one batch,
        when that batch is decompressed on several threads; otherwise, and for every other
        column, a column is decoded when first asked for (a point read skips the columns its
        record does not hold).  A tag column whose one tag the chunk references tell
        (:func:`derived_tag`) is never decoded.
        """
        view = self._view
        if g == len(view.group_first):
            w = self._writer
            if w is None:
                raise IndexError(f"no group {g}: the archive has {g} groups and no pending rows")
            if self._pending_reader is None or self._pending_reader.n != w.p.rows:
                self._pending_reader = GroupReader.from_columns(w.p.rows, w.p.columns, w.shapes)
            return self._pending_reader, view.rows
        hit = self._groups.get(g)
        if hit is not None:
            self._groups.move_to_end(g)
            return hit[0], int(view.group_first[g])
        refmap = view.refs_by_col(g)
        unknown = [c for c in refmap if c >= len(view.columns)]
        if unknown:
            raise CorruptIndexError(f"group {g} holds chunks of unknown column {unknown[0]}")
        refs = view.group_refs[g]
        counts = column_counts(refs)
        root = counts.get(view.col_ids.get(((), "tag"), -1), 0)
        if root != int(view.group_rows[g]):
            raise CorruptIndexError(f"group {g} of {int(view.group_rows[g])} rows has "
                                    f"{root} root values")
        shapes = self._writer.shapes.shapes if self._writer else (lambda p: view.shapes.get(p, []))

        def fetch(cid: tuple) -> Column | None:
            col = view.col_ids.get(cid)
            refs = refmap.get(col) if col is not None else None
            if refs is None:
                return None
            kind = SLOT_KIND[cid[1]]
            if len(refs) == 1:
                return chunkio.decode_ref(view, refs[0], kind)
            return concat([chunkio.decode_ref(view, r, kind) for r in refs])

        def known_tag(path: Path) -> tuple[int, int] | None:
            return derived_tag(view, counts, path)

        reader = GroupReader(int(view.group_rows[g]), fetch, shapes, known_tag)
        # A batch is threaded only past MIN_THREADED_BYTES: a group storing less in all (the
        # common case, and every cold point read of one) skips listing its chunks.
        if (self.threads >= 2 and int(refs["stored"].sum()) >= chunkio.MIN_THREADED_BYTES
                and all(len(rs) == 1 for rs in refmap.values())):
            wanted = [(view.columns[c], r) for c, rs in refmap.items() for r in rs
                      if (columns is None or c in columns)
                      and not (view.columns[c][1] == "tag" and known_tag(view.columns[c][0]))]
            if chunkio.threaded([r for _, r in wanted], self.threads):
                decoded = chunkio.decode_refs(view, [(r, SLOT_KIND[cid[1]]) for cid, r in wanted],
                                              self.threads)
                reader.preload({cid: arr for (cid, _), arr in zip(wanted, decoded)})
        size = int(refs["raw"].sum()) * 2 + 64 * int(view.group_rows[g])
        self._groups[g] = (reader, size)
        self._cached_bytes += size
        while self._cached_bytes > self.cache_bytes and len(self._groups) > 1:
            _, (_, s) = self._groups.popitem(last=False)
            self._cached_bytes -= s
        return reader, int(view.group_first[g])

    @serialized
    def _drop_cache(self) -> None:
        self._groups.clear()
        if self._view is not None:  # (a closed handle has none)
            self._view.bundles.clear()
        self._cached_bytes = 0
        self._pending_reader = None
