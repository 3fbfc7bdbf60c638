"""Kill points of the crash tests: make a child SIGKILL itself at the k-th pass through one
precise place in the engine (mid-chunk, rotation, fsync, inside or after an index transaction,
between compaction's unlinks).  Installed by a task from its spec's ``die`` = [name, k]."""
from __future__ import annotations

import os
import signal
from pathlib import Path


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install_hook(die: list | None) -> None:
    """Make the process SIGKILL itself at the ``k``-th pass through one precise point."""
    if not die:
        return
    name, k = die
    calls = [0]

    def hit() -> bool:
        calls[0] += 1
        return calls[0] == k

    from archive.index import store
    from archive.storage import segments

    if name == "chunk_write":  # a torn chunk: half of it reaches the file
        orig_append = segments.SegmentWriter.append

        def append(self, data):  # type: ignore[no-untyped-def]
            if hit():
                orig_append(self, data[: max(1, len(data) // 2)])
                self._f.flush()
                _die()
            return orig_append(self, data)
        segments.SegmentWriter.append = append
    elif name in ("rotate", "rotate_empty"):  # a new segment file, with or without its header
        orig_rotate = segments.SegmentWriter._rotate

        def rotate(self):  # type: ignore[no-untyped-def]
            if hit():
                if name == "rotate_empty":
                    (self.directory / segments.segment_name(self.file_no + 1)).touch()
                else:
                    orig_rotate(self)
                    self._f.flush()
                _die()
            return orig_rotate(self)
        segments.SegmentWriter._rotate = rotate
    elif name == "fsync":  # data written, not yet synced, index not committed
        orig_fsync = os.fsync

        def fsync(fd):  # type: ignore[no-untyped-def]
            if hit():
                _die()
            return orig_fsync(fd)
        os.fsync = fsync
    elif name in ("index_txn", "index_committed", "swap_txn", "swap_committed"):
        orig_write = store.IndexStore.write

        def write(self, fn):  # type: ignore[no-untyped-def]
            counts = not name.startswith("swap") or getattr(fn, "__name__", "") == "swap"
            if counts and name.endswith("_txn") and hit():
                txn = self.env.begin(write=True)
                fn(txn)  # every put of the commit made, never committed: die holding the lock
                _die()
            result = orig_write(self, fn)
            if counts and name.endswith("_committed") and hit():
                _die()  # durable, but neither reported nor cleaned up after
            return result
        store.IndexStore.write = write
    elif name == "unlink":  # compaction committed, old files partly removed
        orig_unlink = Path.unlink

        def unlink(self, *a, **kw):  # type: ignore[no-untyped-def]
            orig_unlink(self, *a, **kw)
            if self.name.startswith("seg-") and hit():
                _die()
        Path.unlink = unlink
    else:
        raise ValueError(f"unknown kill point {name}")
