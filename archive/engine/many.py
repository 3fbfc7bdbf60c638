"""Many archives read as one sequence, and scans over a range of one archive's groups.

:func:`open_many` opens several archives read-only (say one per day) and reads them as one
list of records: positions run through the first archive, then the second, and so on, in the
order given (a glob is sorted by name).  ``get(key)`` answers from the *first* archive holding
the key.  Nothing is copied or merged on disk; each member keeps its own files and index.

:func:`select_groups` / :func:`scan_range` are the group walk of
:func:`archive.engine.scan.scan` (statistics pruning, vectorized ``where``, deleted and
replaced records) restricted to a run of groups ``g0..g1-1`` — what a distributed task reads
(``archive.dask``) and what ``archive.arrow`` turns into record batches.  They reuse
``scan``'s helpers; only the loop itself is repeated here.
"""
from __future__ import annotations

import glob as _glob
import os
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from itertools import accumulate, chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from archive.buffers import BufferWithSegmentsCollection
from archive.codec.assemble import GroupReader, projection_tree
from archive.engine.archive import Archive
from archive.engine.housekeeping import parse_path
from archive.engine.scan import _groups, _live, _project, _select, group_stats
from archive.errors import ArchiveNotFoundError
from archive.query import Expr, parse

if TYPE_CHECKING:
    import pyarrow as pa

_GLOB_CHARS = frozenset("*?[")
#: what ``get`` returns for a missing key (None may be a stored record)
_ABSENT = object()


# --- group-range scans -------------------------------------------------------------------------
class Selection(NamedTuple):
    """The matching records of one group, in position order.

    ``rows`` are group-local rows of ``reader``; ``redirected`` maps an index into ``rows``
    to the record that replaced it (``put``), whose content lives in another row: for those
    entries ``rows[i]`` is not the record's content.
    """

    group: int
    reader: GroupReader
    rows: np.ndarray
    redirected: dict[int, Any]


def column_ids(ar: Archive, paths: Iterable[tuple[str, ...]] | None) -> set[int] | None:
    """Column ids a read of ``paths`` touches: their subtrees and their ancestors' columns."""
    if paths is None:
        return None
    wanted = {tuple(p) for p in paths}
    ancestors = {q[:i] for q in wanted for i in range(len(q))}
    out = set()
    for cid, (p, _slot) in enumerate(ar._view.columns):
        if p in ancestors or any(p[:i] in wanted for i in range(len(p) + 1)):
            out.add(cid)
    return out


def group_range(ar: Archive, g0: int = 0, g1: int | None = None) -> Iterator[tuple[int, int, int]]:
    """(group, first row, rows) of groups ``g0..g1-1``; ``g1=None``: to the end, pending included."""
    for g, first, n in list(_groups(ar)):
        if g < g0 or (g1 is not None and g >= g1):
            continue
        yield g, first, n


def select_groups(ar: Archive, expr: Expr | None, g0: int = 0, g1: int | None = None,
                  paths: Iterable[tuple[str, ...]] | None = None) -> Iterator[Selection]:
    """Per group of ``g0..g1-1`` with a match: which records match ``expr`` (all when None).

    ``paths``: the paths the caller will read from the readers (``None``: whole records); only
    their columns (and ``expr``'s) are decoded up front.
    """
    view = ar._view
    want = None if paths is None else column_ids(ar, list(paths) + list(expr.paths if expr else []))
    for g, first, n in group_range(ar, g0, g1):
        live = _live(ar, first, n)
        if not len(live):
            continue
        content = view.content_rows(live)
        moved = np.flatnonzero(content != live)
        if (expr is not None and not len(moved)
                and not expr.may_match({p: group_stats(ar, g, n, p) for p in expr.paths})):
            continue
        redirected: dict[int, Any] = {}
        if len(moved):
            redirected = dict(zip(moved.tolist(), ar._read_rows(content[moved])))
        reader, _ = ar._group(g, want)
        local = live - first
        keep = np.flatnonzero(_select(ar, reader, local, expr, redirected, g))
        if not len(keep):
            continue
        moved_out = {}
        if redirected:
            moved_out = {j: redirected[i] for j, i in enumerate(keep.tolist()) if i in redirected}
        yield Selection(g, reader, local[keep], moved_out)


def selection_records(sel: Selection, proj: dict | None) -> list:
    """The (projected) records of a selection, in order."""
    if not sel.redirected:
        return sel.reader.records_at(sel.rows, proj)
    plain = np.array([i for i in range(len(sel.rows)) if i not in sel.redirected], dtype=np.int64)
    recs = sel.reader.records_at(sel.rows[plain], proj) if len(plain) else []
    out: list = [None] * len(sel.rows)
    for i, rec in zip(plain.tolist(), recs):
        out[i] = rec
    for i, rec in sel.redirected.items():
        out[i] = rec if proj is None else (_project(rec, proj) if isinstance(rec, dict) else {})
    return out


def scan_range(ar: Archive, columns: Iterable[str | tuple] | None = None, where: str | None = None,
               g0: int = 0, g1: int | None = None) -> Iterator[Any]:
    """``ar.scan(columns, where)`` restricted to groups ``g0..g1-1`` (same records, same order)."""
    paths = None if columns is None else [parse_path(c) for c in columns]
    proj = None if paths is None else projection_tree(paths)
    expr = parse(where) if where is not None else None
    for sel in select_groups(ar, expr, g0, g1, paths):
        yield from selection_records(sel, proj)


# --- many archives -----------------------------------------------------------------------------
def expand_paths(paths_or_glob: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    """Archive directories named by a glob (sorted), one path, or an iterable of paths.

    An iterable may hold globs too; each expands in place, sorted.  Returns plain ``str``
    paths (what a distributed task can pickle).  ``ArchiveNotFoundError`` when nothing matches.
    """
    items = [paths_or_glob] if isinstance(paths_or_glob, (str, os.PathLike)) else list(paths_or_glob)
    out: list[str] = []
    for item in items:
        s = os.fspath(item)
        if _GLOB_CHARS & set(s):
            hits = sorted(p for p in _glob.glob(s) if (Path(p) / "index").is_dir())
            if not hits:
                raise ArchiveNotFoundError(f"no archive matches {s!r}")
            out.extend(hits)
        else:
            out.append(s)
    if not out:
        raise ArchiveNotFoundError("no archive paths given")
    return out


class ManyArchives:
    """Several archives read as one sequence (see :func:`open_many`).  Read-only."""

    def __init__(self, paths: list[str], **options: Any) -> None:
        self.paths = list(paths)
        self.archives: list[Archive] = []
        try:
            for p in self.paths:
                self.archives.append(Archive(p, "r", **options))
        except BaseException:
            self.close()
            raise
        self._offsets()

    def _offsets(self) -> None:
        self._starts = list(accumulate((len(a) for a in self.archives), initial=0))

    def _check_open(self) -> None:
        if not self.archives and self.paths:
            raise ValueError("I/O operation on closed archives")

    # --- positions ---------------------------------------------------------------------------
    def __len__(self) -> int:
        self._check_open()
        return self._starts[-1]

    def locate(self, i: int) -> tuple[int, int]:
        """``(archive index, position in it)`` of global position ``i`` (negative from the end)."""
        n = len(self)
        if not isinstance(i, (int, np.integer)) or isinstance(i, bool):
            raise TypeError(f"indices must be int or slice, not {type(i).__name__}")
        j = int(i) + n if i < 0 else int(i)
        if not 0 <= j < n:
            raise IndexError(f"position {i} out of range for {n} records")
        a = bisect_right(self._starts, j) - 1
        return a, j - self._starts[a]

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return self.take(range(*i.indices(len(self))))
        a, j = self.locate(i)
        return self.archives[a][j]

    def take(self, positions: Iterable[int]) -> list:
        """Records at many positions, in the order given; each archive is asked once."""
        pos = np.fromiter(positions, dtype=np.int64) if not isinstance(positions, np.ndarray) \
            else positions.astype(np.int64, copy=False)
        n = len(self)
        pos = np.where(pos < 0, pos + n, pos)
        if len(pos) and (pos.min() < 0 or pos.max() >= n):
            bad = int(pos[np.flatnonzero((pos < 0) | (pos >= n))[0]])
            raise IndexError(f"position {bad} out of range for {n} records")
        which = np.searchsorted(np.asarray(self._starts), pos, side="right") - 1
        out: list = [None] * len(pos)
        for a in np.unique(which).tolist():
            sel = np.flatnonzero(which == a)
            for k, rec in zip(sel.tolist(), self.archives[a].take(pos[sel] - self._starts[a])):
                out[k] = rec
        return out

    def __iter__(self) -> Iterator[Any]:
        return self.scan()

    # --- keys --------------------------------------------------------------------------------
    def get(self, key: str | bytes, default: Any = None) -> Any:
        """The record of ``key`` in the first archive (in open order) that holds it."""
        self._check_open()
        for ar in self.archives:
            rec = ar.get(key, _ABSENT)
            if rec is not _ABSENT:
                return rec
        return default

    def __contains__(self, key: str | bytes) -> bool:
        self._check_open()
        return any(key in ar for ar in self.archives)

    # --- scans -------------------------------------------------------------------------------
    def scan(self, columns: Iterable[str | tuple] | None = None, where: str | None = None) -> Iterator[Any]:
        """Every archive's ``scan(columns, where)``, one after another."""
        self._check_open()
        columns = None if columns is None else list(columns)
        return chain.from_iterable(ar.scan(columns, where) for ar in self.archives)

    def column(self, path: str | tuple) -> np.ndarray:
        """One path's value for every record (typed when every archive's column has one dtype)."""
        self._check_open()
        parts = [a for a in (ar.column(path) for ar in self.archives) if len(a)]
        if not parts:
            return np.empty(0, dtype=object)
        if len({a.dtype for a in parts}) == 1:
            return np.concatenate(parts)
        return np.concatenate([a.astype(object) for a in parts])

    def to_arrow(self, columns: Iterable[str | tuple] | None = None, where: str | None = None,
                 batch_rows: int | None = None) -> pa.RecordBatchReader:
        """A RecordBatchReader over all archives, with one schema inferred from all of them."""
        from archive.arrow import to_arrow
        self._check_open()
        return to_arrow(self, columns, where, batch_rows)

    def chunks(self, path: str | tuple) -> BufferWithSegmentsCollection:
        """The compressed chunks of ``path``'s columns in every archive, as one collection."""
        self._check_open()
        members = []
        for ar in self.archives:
            try:
                members.extend(ar.chunks(path).buffers)
            except KeyError:
                continue
        if not members:
            raise KeyError(f"no archive has chunks at path {path!r}")
        return BufferWithSegmentsCollection(*members)

    def refresh(self) -> None:
        """Move every archive to its newest commit."""
        self._check_open()
        for ar in self.archives:
            ar.refresh()
        self._offsets()

    # --- lifetime ----------------------------------------------------------------------------
    def close(self) -> None:
        """Close every archive.  Idempotent."""
        archives, self.archives = self.archives, []
        for ar in archives:
            ar.close()

    def __enter__(self) -> ManyArchives:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if not self.archives:
            return f"<archive.ManyArchives {len(self.paths)} archives, closed>"
        return f"<archive.ManyArchives {len(self.archives)} archives, {len(self)} records>"


def open_many(paths_or_glob: str | os.PathLike | Iterable[str | os.PathLike], **options: Any) -> ManyArchives:
    """Open many archives read-only as one sequence of records.

    ``paths_or_glob``: a glob (``"/data/dns/2024-*"``, sorted by name), one path, or an
    iterable of paths/globs, in the order their records should come.  ``options`` go to
    each :class:`~archive.Archive` (``cache_bytes``, ``threads``).
    """
    return ManyArchives(expand_paths(paths_or_glob), **options)
