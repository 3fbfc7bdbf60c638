"""The LMDB environment behind an archive's index, with automatic map growth.

Named databases (every key big-endian so cursors iterate in numeric order; layouts of the
values in :mod:`archive.index.records`):

============  ====================================  ==========================================
db            key                                   value
============  ====================================  ==========================================
meta          name                                  format version, settings, state (JSON)
files         file_no u32                           committed length u64, segment count u32
segtab        file_no u32, first segment u32        packed (offset, length) u64 pairs of segments
columns       first column id u32                   packed JSON list of ``[k, rest, slot]``
                                                    (paths front-coded)
shapes        batch number u32                      packed JSON list of ``[column, first shape,
                                                    key lists]``
groups        group id u64                          first row, rows, packed chunk directory
dicts         dictionary id u32                     column u32, crc32, zstd dictionary
keys          M, R+run, X+run+extent, G+group       the key index (:mod:`archive.index.keyruns`)
dead          row u64                               empty
redirect      slot row u64                          content row u64
============  ====================================  ==========================================

Writers call :meth:`IndexStore.write` with a function that performs all puts of one commit;
on ``MapFullError`` the map is doubled and the function re-run in a fresh transaction, so users
never see a full map.  Readers adopt a map grown by another process transparently; within one
process every handle of an archive shares one environment, and handles holding a long-lived
read transaction drop it (``on_grow``) before the map is resized.
"""
from __future__ import annotations

import contextlib
import errno
import os
import threading
import weakref
from pathlib import Path
from typing import Any, Callable, Final, Iterator, TypeVar

import lmdb

from archive.errors import (
    ArchiveError, ArchiveNotFoundError, CorruptIndexError, ReadersFullError, StorageError,
)

DBS: Final = ("meta", "files", "segtab", "columns", "shapes", "groups", "dicts", "keys", "dead",
              "redirect")
INITIAL_MAP: Final = 64 << 20
#: Concurrent read snapshots (open handles) per archive across processes: LMDB's default.
#: lock.mdb holds a 64-byte slot for each (126: 8 KiB; 1024 would take 64 KiB on disk).
MAX_READERS: Final = 126
#: What liblmdb raises when a read meets a damaged page (and, after that, for the rest of the
#: transaction): callers turn these into CorruptIndexError.
LMDB_DAMAGE: Final = (lmdb.CorruptedError, lmdb.PageNotFoundError, lmdb.BadTxnError)
T = TypeVar("T")


class _Shared:
    """One LMDB environment per index directory per process (LMDB forbids opening the same
    environment twice in a process: its locks are per process, so closing one handle would
    break the other).  Handles share it and it closes with the last one."""

    def __init__(self, env: lmdb.Environment, db: dict[str, Any]) -> None:
        self.env = env
        self.db = db
        self.stores: "weakref.WeakSet[IndexStore]" = weakref.WeakSet()
        self.refs = 0


_SHARED: dict[tuple[int, int], _Shared] = {}
_SHARED_LOCK = threading.Lock()


def _open_env(path: Path, create: bool) -> _Shared:
    writable = os.access(path, os.W_OK) if path.exists() else create
    try:
        env = lmdb.open(
            str(path), subdir=True, max_dbs=len(DBS) + 1, map_size=INITIAL_MAP,
            readonly=not writable, create=create, readahead=False, meminit=False,
            max_readers=MAX_READERS,
        )
    except lmdb.Error as e:
        raise ArchiveError(f"cannot open the index at {path}: {e}") from e
    env.set_mapsize(0)  # adopt a map another process has grown
    db = {}
    if create:
        # All tables in one transaction: a writer killed while creating the archive leaves
        # every table or none, never an index lacking some.
        with env.begin(write=True) as txn:
            for name in DBS:
                env.open_db(name.encode(), txn=txn, create=True)
    for name in DBS:
        try:
            # Without an explicit txn: a handle opened inside a read-only txn would die with it.
            db[name] = env.open_db(name.encode(), create=create)
        except (lmdb.NotFoundError, lmdb.ReadonlyError):
            env.close()
            if name == DBS[0]:
                raise ArchiveNotFoundError(
                    f"no archive at {path.parent}: its index holds none of our tables (a "
                    "creation that never completed, or not an archive)") from None
            raise ArchiveError(
                f"the index at {path} lacks the {name!r} table: not an archive, or "
                "written by an incompatible version"
            ) from None
        except lmdb.Error as e:  # damaged pages, or a damaged header (MDB_INVALID)
            env.close()
            raise CorruptIndexError(f"the index at {path} is damaged: {e}") from None
    return _Shared(env, db)


class IndexStore:
    """Opens ``<archive>/index`` (an LMDB environment) and hands out transactions."""

    def __init__(self, directory: Path, readonly: bool) -> None:
        path = directory / "index"
        self.readonly = readonly
        if not readonly:
            path.mkdir(parents=True, exist_ok=True)
        try:
            st = os.stat(path)
        except OSError as e:
            raise ArchiveError(f"cannot open the index at {path}: {e.strerror}") from e
        key = (st.st_dev, st.st_ino)
        with _SHARED_LOCK:
            shared = _SHARED.get(key)
            if shared is None:
                shared = _SHARED[key] = _open_env(path, create=not readonly)
            elif not readonly and shared.env.flags()["readonly"]:
                raise ArchiveError(f"the index at {path} is not writable")
            shared.refs += 1
            shared.stores.add(self)
        self._key = key
        self._shared: _Shared | None = shared  # None once closed
        self.env = shared.env
        self.db = shared.db
        #: called before the map grows: holders of long-lived read txns must drop them
        self.on_grow: list[Callable[[], None]] = []

    def begin(self) -> lmdb.Transaction[bytes]:
        """A read transaction that outlives the call (the caller aborts it).  Each takes one
        of the index's :data:`MAX_READERS` reader slots until it ends."""
        try:
            return self._begin()
        except lmdb.ReadersFullError:
            self.env.reader_check()  # free the slots of processes that died holding one
            try:
                return self._begin()
            except lmdb.ReadersFullError:
                raise ReadersFullError(
                    f"all {MAX_READERS} reader slots of the index at {self.env.path()} are taken: "
                    "that many archive handles (or snapshots) are open across processes; close "
                    "the ones no longer used") from None

    def _begin(self) -> lmdb.Transaction[bytes]:
        try:
            return self.env.begin(buffers=False)
        except lmdb.MapResizedError:
            self.env.set_mapsize(0)
            return self.env.begin(buffers=False)

    @contextlib.contextmanager
    def read(self) -> Iterator[lmdb.Transaction[bytes]]:
        """A read-only snapshot transaction (consistent view of one commit)."""
        txn = self.begin()
        try:
            yield txn
        finally:
            txn.abort()

    def write(self, fn: Callable[[lmdb.Transaction[bytes]], T]) -> T:
        """Run ``fn`` in a write transaction and commit; grows the map and retries when full."""
        while True:
            txn = self.env.begin(write=True)
            try:
                result = fn(txn)
                try:
                    txn.commit()
                except lmdb.MapFullError:
                    raise
                except lmdb.Error as e:  # the disk refused the pages (full, size limit, I/O)
                    raise StorageError(errno.EIO, f"committing the index failed: {e}") from e
                return result
            except lmdb.MapFullError:
                txn.abort()
                # No transaction of this process may be open while the map is resized.
                if self._shared is None:
                    raise ArchiveError(f"the index at {self.env.path()} is closed")
                for store in list(self._shared.stores):
                    for drop in store.on_grow:
                        drop()
                self.env.set_mapsize(self.env.info()["map_size"] * 2)
            except BaseException:
                txn.abort()
                raise

    def map_size(self) -> int:
        return int(self.env.info()["map_size"])

    def close(self) -> None:
        """Release this handle; the environment closes with the last one in the process."""
        if self._shared is None:
            return
        with _SHARED_LOCK:
            self._shared.refs -= 1
            self._shared.stores.discard(self)
            if self._shared.refs == 0:
                del _SHARED[self._key]
                self._shared.env.close()
        self._shared = None
