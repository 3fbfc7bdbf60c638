"""Append-only segment files holding chunks back to back.

A segment file is ``seg-NNNNNN.acs``: a 16-byte header (magic ``b"\\x89ACS"``, format
version u32, file number u64, little-endian) then chunks.  Where each chunk lies is not in the
file but in the index (a ``BufferSegments`` table per file), so the file itself never needs
parsing; the header only lets ``verify`` tell a foreign file from ours.

Only the writer appends.  Bytes past a file's committed length (recorded in the index) belong
to no commit: the writer trims them when it opens, and readers never map past that length, so
a reader never touches a page beyond the file's end (no SIGBUS).
"""
from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path
from typing import Final

from archive.errors import StorageError

FILE_MAGIC: Final = b"\x89ACS"
FILE_HEADER: Final = struct.Struct("<4sIQ")
FILE_VERSION: Final = 1


def segment_name(file_no: int) -> str:
    return f"seg-{file_no:06d}.acs"


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def map_file(path: Path, length: int) -> mmap.mmap | bytes:
    """Map the first ``length`` bytes of a file read-only (``b""`` for length 0).

    Raises ``OSError`` if the file is shorter than ``length`` (never maps past its end).
    """
    if length == 0:
        return b""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < length:
            raise OSError(f"{path} is {size} bytes, shorter than its committed {length}")
        return mmap.mmap(f.fileno(), length, prot=mmap.PROT_READ)


class SegmentWriter:
    """Appends chunks to the newest segment file, rotating at ``rotate_bytes``."""

    def __init__(self, directory: Path, file_no: int, length: int, rotate_bytes: int) -> None:
        """Continue file ``file_no`` at ``length``; ``length`` -1 (or ``file_no`` -1) means the
        next append starts a new file numbered ``file_no + 1``."""
        self.directory = directory
        self.rotate_bytes = rotate_bytes
        self.file_no = file_no
        self._f = None
        self.length = length
        #: file numbers written since the last :meth:`sync` (they need an fsync)
        self.dirty: set[int] = set()
        self._new_files = False
        if file_no >= 0 and length >= 0:
            self._f = open(directory / segment_name(file_no), "r+b")
            self._f.seek(length)

    def _rotate(self) -> None:
        if self._f is not None:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
        self.file_no += 1
        path = self.directory / segment_name(self.file_no)
        self._f = open(path, "w+b")
        self._f.write(FILE_HEADER.pack(FILE_MAGIC, FILE_VERSION, self.file_no))
        self.length = FILE_HEADER.size
        self.dirty.add(self.file_no)
        self._new_files = True

    def append(self, data: bytes) -> tuple[int, int]:
        """Write one chunk; returns ``(file_no, offset)``.  Rotates first when the file is full."""
        if self._f is None or (self.length > FILE_HEADER.size and self.length + len(data) > self.rotate_bytes):
            self._rotate()
        assert self._f is not None  # open, or just opened by _rotate
        offset = self.length
        try:
            self._f.write(data)
        except OSError as e:
            raise StorageError(e.errno, f"writing segment {segment_name(self.file_no)}: {e.strerror}") from e
        self.length += len(data)
        self.dirty.add(self.file_no)
        return self.file_no, offset

    def flush(self) -> None:
        """Hand written bytes to the OS so this process's own maps and reads can see them."""
        if self._f is not None:
            try:
                self._f.flush()
            except OSError as e:
                raise StorageError(e.errno, f"writing segment: {e.strerror}") from e

    def sync(self) -> None:
        """Make every byte written so far durable (file data, and new directory entries)."""
        self.flush()
        if self._f is not None and self.file_no in self.dirty:
            os.fsync(self._f.fileno())
        if self._new_files:
            fsync_dir(self.directory)
            self._new_files = False
        self.dirty.clear()

    def rollback(self, file_no: int, length: int) -> None:
        """Forget everything written after ``(file_no, length)`` (a failed batch or commit)."""
        if self._f is not None:
            try:
                self._f.close()
            except OSError:
                pass  # flushing what the disk refused fails again; those bytes are dropped anyway
            self._f = None
        for extra in range(file_no + 1, self.file_no + 1):
            (self.directory / segment_name(extra)).unlink(missing_ok=True)
        self.file_no, self.length = file_no, length
        if file_no >= 0 and length >= 0:
            path = self.directory / segment_name(file_no)
            with open(path, "r+b") as f:
                f.truncate(length)
            self._f = open(path, "r+b")
            self._f.seek(length)
        self.dirty.clear()

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
