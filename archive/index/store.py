"""The LMDB environment behind an archive's index, with automatic map growth.

Named databases (every key big-endian so cursors iterate in numeric order; layouts of the
values in :mod:`archive.index.records`):

============  ====================================  ==========================================
db            key                                   value
============  ====================================  ==========================================
meta          name                                  format version, settings, state (JSON)
files         file_no u32                           committed length u64, chunk count u32
segtab        file_no u32, first segment u32        (offset, length) u64 pairs of chunks
columns       column id u32                         JSON ``[path, slot]``
shapes        shape column id u32, shape id u32     JSON list of keys
groups        group id u64                          first row, rows, chunk refs (numpy)
colchunks     col u32, group u64, part u32          first item, count, parent column, stats
keys          encoded record key                    slot row u64
dead          row u64                               empty
redirect      slot row u64                          content row u64
============  ====================================  ==========================================

Writers call :meth:`IndexStore.write` with a function that performs all puts of one commit;
on ``MapFullError`` the map is doubled and the function re-run in a fresh transaction, so users
never see a full map.  Readers adopt a map grown by another process transparently.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable, Final, Iterator, TypeVar

import lmdb

from archive.errors import ArchiveError

DBS: Final = ("meta", "files", "segtab", "columns", "shapes", "groups", "colchunks", "keys",
              "dead", "redirect")
INITIAL_MAP: Final = 64 << 20
T = TypeVar("T")


class IndexStore:
    """Opens ``<archive>/index`` (an LMDB environment) and hands out transactions."""

    def __init__(self, directory: Path, readonly: bool) -> None:
        path = directory / "index"
        self.readonly = readonly
        try:
            self.env = lmdb.open(
                str(path), subdir=True, max_dbs=len(DBS) + 1, map_size=INITIAL_MAP,
                readonly=readonly, create=not readonly, readahead=False, meminit=False,
                max_readers=1024,
            )
        except lmdb.Error as e:
            raise ArchiveError(f"cannot open the index at {path}: {e}") from e
        if readonly:
            # The writer may have grown the map; adopt its size.
            self.env.set_mapsize(0)
        self.db = {}
        for name in DBS:
            try:
                # Without an explicit txn: a handle opened inside a read-only txn would die with it.
                self.db[name] = self.env.open_db(name.encode(), create=not readonly)
            except lmdb.NotFoundError:
                self.env.close()
                raise ArchiveError(
                    f"the index at {path} lacks the {name!r} table: not an archive, or "
                    "written by an incompatible version"
                ) from None

    @contextlib.contextmanager
    def read(self) -> Iterator[lmdb.Transaction]:
        """A read-only snapshot transaction (consistent view of one commit)."""
        try:
            txn = self.env.begin(buffers=False)
        except lmdb.MapResizedError:
            self.env.set_mapsize(0)
            txn = self.env.begin(buffers=False)
        try:
            yield txn
        finally:
            txn.abort()

    def write(self, fn: Callable[[lmdb.Transaction], T]) -> T:
        """Run ``fn`` in a write transaction and commit; grows the map and retries when full."""
        while True:
            txn = self.env.begin(write=True)
            try:
                result = fn(txn)
                txn.commit()
                return result
            except lmdb.MapFullError:
                txn.abort()
                self.env.set_mapsize(self.env.info()["map_size"] * 2)
            except BaseException:
                txn.abort()
                raise

    def map_size(self) -> int:
        return int(self.env.info()["map_size"])

    def close(self) -> None:
        self.env.close()
