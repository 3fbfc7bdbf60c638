"""The archive handle users open: reads by position, key and batch; appends, puts, deletes.

Positions are those of a Python list: ``ar[i]`` is the i-th live record; ``delete`` shifts the
records after it down by one; ``put`` on an existing key replaces that record in place.
Physically every record ever written has a *row* (rows are only appended); a live position
maps to a *slot* row through the sorted deleted rows, and a replaced slot to the row holding
its newest content through the redirect table.  ``compact()`` rewrites live records into new
rows so replaced and deleted ones stop taking space.
"""
from __future__ import annotations

import copy
import json
import os
import threading
from collections import OrderedDict
from functools import partial
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from archive.codec.assemble import GroupReader
from archive.engine import housekeeping
from archive.gcpause import gc_paused
from archive.engine.keyed import KeyedReading
from archive.engine.mutex import serialized
from archive.engine.settings import settings_from_kwargs, stored_settings
from archive.engine.view import View
from archive.engine.writer import Writer
from archive.errors import (
    ArchiveError, ArchiveNotFoundError, KeyExistsError, ReadOnlyError,
    StorageError,
)
from archive.index.keys import KeyIndex, describe_batch
from archive.index.records import encode_key, encode_keys
from archive.index.store import IndexStore
from archive.storage.lock import WriterLock


class Archive(KeyedReading):
    """An open archive (see :func:`archive.open`)."""

    def __init__(self, path: str | os.PathLike, mode: str = "r", *, lock_timeout: float | None = 0.0,
                 cache_bytes: int = 256 << 20, threads: int = 2, **settings: Any) -> None:
        if mode not in ("r", "a"):
            raise ValueError(f"mode must be 'r' or 'a', not {mode!r}")
        self._mutex = threading.RLock()
        self.path = Path(path)
        self.mode = mode
        self.cache_bytes = int(cache_bytes)
        self.threads = int(threads)
        self._lock: WriterLock | None = None
        self._writer: Writer | None = None
        self._groups: OrderedDict[int, tuple[GroupReader, int]] = OrderedDict()
        self._cached_bytes = 0
        self._pending_reader: GroupReader | None = None
        self._stale = False
        requested = settings_from_kwargs(settings) if settings else None
        if mode == "r":
            if not (self.path / "index").is_dir():
                raise ArchiveNotFoundError(f"no archive at {self.path} (open with mode='a' to create one)")
            self.store = IndexStore(self.path, readonly=True)
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            self._lock = WriterLock(self.path, lock_timeout)
            try:
                self.store = IndexStore(self.path, readonly=False)
            except BaseException:
                self._lock.release()
                raise
        self._keyidx = KeyIndex(self.store.db["keys"])
        try:
            self.settings = stored_settings(self.store, self.path, mode, requested)
            self._view = self._load_view()
            self.store.on_grow.append(self._map_growing)
            if mode == "a":
                housekeeping.trim_tails(self.path, self._view)
                self._writer = Writer(self.path, self.store, self._view, self.settings)
        except BaseException:
            self.store.close()
            if self._lock:
                self._lock.release()
            raise

    # --- opening -----------------------------------------------------------------------------
    def _load_view(self) -> View:
        for _attempt in range(5):
            txn = self.store.begin()
            view = View.load(self.store, self.path, txn)
            stale = any(fv.error for fv in view.files.values())
            if not stale or self.store.env.info()["last_txnid"] == txn.id():
                return view
            view.close()  # a compaction replaced files under us: read the newer commit
        return view

    @serialized
    def refresh(self) -> None:
        """Move a reader to the newest commit (a writer always sees its own newest state)."""
        self._check_open()
        if self._writer is not None:
            return
        old = self._view
        self._view = self._load_view()
        old.close()
        self._drop_cache()

    # --- sizes and positions -----------------------------------------------------------------
    def __len__(self) -> int:
        self._check_open()
        return self._view.live_count() + (self._writer.p.rows if self._writer else 0)

    def _total_rows(self) -> int:
        return self._view.rows + (self._writer.p.rows if self._writer else 0)

    def _positions_to_rows(self, positions: np.ndarray) -> np.ndarray:
        n = len(self)
        pos = np.asarray(positions, dtype=np.int64)
        pos = np.where(pos < 0, pos + n, pos)
        if len(pos) and (pos.min() < 0 or pos.max() >= n):
            bad = positions[int(np.flatnonzero((pos < 0) | (pos >= n))[0])]
            raise IndexError(f"position {bad} out of range for an archive of {n} records")
        return self._view.content_rows(self._view.slots_of(pos))

    # --- reading -----------------------------------------------------------------------------
    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return self.take(np.arange(*i.indices(len(self)), dtype=np.int64))
        if not isinstance(i, (int, np.integer)) or isinstance(i, bool):
            raise TypeError(f"archive indices must be int or slice, not {type(i).__name__}")
        return self._read_rows(self._positions_to_rows(np.array([i], dtype=np.int64)))[0]

    def take(self, positions: Iterable[int]) -> list:
        """Records at many positions, in the order given; each chunk is decoded once."""
        self._check_open()
        pos = np.fromiter(positions, dtype=np.int64) if not isinstance(positions, np.ndarray) else positions
        return self._read_rows(self._positions_to_rows(pos))

    def __iter__(self) -> Iterator[Any]:
        return self.scan()

    # --- writing -----------------------------------------------------------------------------
    def _w(self) -> Writer:
        self._check_open()
        if self._writer is None:
            raise ReadOnlyError(f"{self.path} is open read-only; open it with mode='a' to write")
        return self._writer

    @serialized
    def append(self, record: Any, key: str | bytes | None = None) -> int:
        """Append one record (and its key); returns its position."""
        return self.extend([record], None if key is None else [key])[0]

    @gc_paused()
    @serialized
    def extend(self, records: Iterable[Any], keys: Sequence[str | bytes] | None = None) -> range:
        """Append many records; all or none: a bad record or key raises before any is added."""
        w = self._w()
        records = records if isinstance(records, list) else list(records)
        enc: list[bytes] = []
        if keys is not None:
            keys = list(keys)
            if len(keys) != len(records):
                raise ValueError(f"{len(records)} records but {len(keys)} keys")
            enc = encode_keys(keys)
            if len(set(enc)) != len(enc):
                raise KeyExistsError("the same key appears twice in one batch")
            slots = self._key_slots(enc)
            if slots.count(None) != len(slots):
                orig = keys[next(i for i, s in enumerate(slots) if s is not None)]
                raise KeyExistsError(f"key {orig!r} already exists; use put() to replace it")
        if not records:
            return range(len(self), len(self))
        # Shred every group-sized piece before merging any: a bad record anywhere adds nothing.
        pieces, a, room = [], 0, self.settings.group_rows - w.p.rows
        while a < len(records):
            b = min(len(records), a + max(room, 1))
            columns = w.shredder.shred(records[a:b])
            pieces.append((columns, b - a, w.check(columns)))
            a, room = b, self.settings.group_rows
        start = len(self)
        first = self._total_rows()
        batch = describe_batch(first, records, keys) if keys is not None else None
        for columns, n, raw in pieces:
            self._guard(partial(w.add, columns, n, raw))
        w.p.keys.update(zip(enc, range(first, first + len(enc))))
        if batch is not None:
            w.p.key_batches.append(batch)
        self._pending_reader = None
        return range(start, start + len(records))

    @gc_paused()
    @serialized
    def put(self, key: str | bytes, record: Any) -> None:
        """Store ``record`` under ``key``, replacing the record the key had (in place)."""
        w = self._w()
        k = encode_key(key)
        slot = self._key_lookup(k, fetch=False)[0]
        if slot is None:
            self.append(record, key)
            return
        columns = w.shredder.shred([record])
        raw = w.check(columns)
        row = self._guard(lambda: w.add(columns, 1, raw))
        self._pending_reader = None
        self._view.add_dead([row])
        w.p.dead.add(row)
        w.p.redirect[slot] = row
        self._view.redirect[slot] = row

    @serialized
    def delete(self, key: str | bytes) -> None:
        """Remove the record of ``key``; ``KeyError`` when there is none."""
        w = self._w()
        k = encode_key(key)
        slot = self._key_lookup(k, fetch=False)[0]
        if slot is None:
            raise KeyError(key)
        w.p.keys[k] = None
        w.p.dead.add(slot)
        self._view.add_dead([slot])
        if slot in self._view.redirect:
            del self._view.redirect[slot]
            w.p.redirect[slot] = None

    def _guard(self, fn: Any) -> Any:
        """Run a write step; on an OS failure roll back to the last commit and raise StorageError."""
        try:
            return fn()
        except OSError as e:
            self._rollback()
            if isinstance(e, StorageError):
                raise
            raise StorageError(e.errno, f"write failed, uncommitted records discarded: {e}") from e

    @gc_paused()
    @serialized
    def commit(self) -> None:
        """Make everything written so far durable (returns after fsync and index commit)."""
        w = self._w()
        try:
            w.commit()
        except BaseException as e:
            self._rollback()
            if isinstance(e, OSError) and not isinstance(e, ArchiveError):
                raise StorageError(e.errno, f"commit failed, rolled back to the last commit: {e}") from e
            raise
        self._view.renew_txn()

    @serialized
    def rollback(self) -> None:
        """Discard everything written since the last commit."""
        self._w()
        self._rollback()

    def _rollback(self) -> None:
        self._view.close()
        self._view = self._load_view()
        self._w().rollback(self._view)
        self._drop_cache()

    @property
    def attrs(self) -> dict[str, Any]:
        """User metadata stored with the archive (a copy; change it with :meth:`set_attrs`)."""
        self._check_open()
        return copy.deepcopy(self._view.attrs)

    @serialized
    def set_attrs(self, attrs: dict[str, Any]) -> None:
        """Replace the user metadata (JSON-serializable); committed with the next commit."""
        w = self._w()
        try:
            json.dumps(attrs)
        except (TypeError, ValueError) as e:
            raise TypeError(f"attrs must be JSON-serializable: {e}") from None
        if not isinstance(attrs, dict):
            raise TypeError("attrs must be a dict")
        w.p.attrs = dict(attrs)
        self._view.attrs = dict(attrs)

    # --- maintenance (implemented in housekeeping) -------------------------------------------
    def scan(self, columns: Iterable[str | tuple] | None = None, where: str | None = None) -> Iterator[Any]:
        """Records in position order, projected to ``columns``, filtered by ``where``."""
        from archive.engine.scan import scan
        self._check_open()
        return scan(self, columns, where)

    @serialized
    def column(self, path: str | tuple) -> np.ndarray:
        """One path's value for every record: a typed numpy array when the type allows."""
        from archive.engine.scan import column
        self._check_open()
        return column(self, path)

    def to_arrow(self, columns: Iterable[str | tuple] | None = None, where: str | None = None,
                 batch_rows: int | None = None) -> Any:
        """A ``pyarrow.RecordBatchReader`` of the records (see :mod:`archive.arrow`)."""
        from archive.arrow import to_arrow
        self._check_open()
        return to_arrow(self, columns, where, batch_rows)

    def chunks(self, path: str | tuple) -> Any:
        """A BufferWithSegmentsCollection of the compressed chunks of a path's columns; each
        decodes with ``archive.codec.chunk.decode_chunk(chunk, ar.dicts)``."""
        self._check_open()
        return housekeeping.chunks(self, path)

    @property
    def dicts(self) -> Any:
        """The archive's zstd dictionaries (:class:`archive.codec.zdict.Dicts`), by id."""
        self._check_open()
        return self._view.dicts

    @serialized
    def stats(self) -> dict[str, Any]:
        self._check_open()
        return housekeeping.stats(self)

    @serialized
    def verify(self) -> list[str]:
        """Check every chunk and the index against the files; returns the problems found."""
        self._check_open()
        return housekeeping.verify(self)

    @serialized
    def compact(self) -> None:
        """Rewrite live records into fresh files; readers keep reading meanwhile."""
        from archive.engine.compact import compact
        compact(self)

    # --- lifetime ----------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._view is None:
            raise ValueError("I/O operation on a closed archive")
        if self._stale:
            self._stale = False
            self.refresh()

    def _map_growing(self) -> None:
        """A writer of this process is about to grow the LMDB map: no transaction may stay
        open.  The writer renews its own on the next lookup (it is always at its newest
        state); a reader moves to the newest commit as a whole on its next call, rather than
        mixing a newer commit's keys with the rows it has loaded."""
        if self._view is not None:
            self._view.drop_txn()
            self._stale = self._writer is None

    @serialized
    def close(self) -> None:
        """Commit (when writing) and release everything.  Idempotent."""
        if getattr(self, "_view", None) is None:
            return
        try:
            if self._writer is not None:
                self.commit()
        finally:
            self._release()

    def _release(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._view.close()
        self._view = None  # type: ignore[assignment]  # closed: _check_open guards every use
        self._drop_cache()
        self.store.close()
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> "Archive":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None and self._view is not None and self._writer is not None:
            self._rollback()
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._view is None else f"{len(self)} records"
        return f"<archive.Archive {str(self.path)!r} mode={self.mode!r} {state}>"


def open(path: str | os.PathLike, mode: str = "r", **options: Any) -> Archive:  # noqa: A001
    """Open (``mode="r"``) or create/append to (``mode="a"``) the archive at ``path``.

    Options: ``lock_timeout`` (seconds to wait for another writer; 0 fails at once, None waits),
    ``cache_bytes`` (decoded-group cache budget), ``threads`` (decompression threads), and at
    creation the :class:`~archive.engine.settings.Settings` fields.
    """
    return Archive(path, mode, **options)
