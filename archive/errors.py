"""The exception hierarchy.

Everything caused by bad *data* (corrupt files, hostile input, unreadable archives, a query
that does not parse) raises a subclass of :class:`ArchiveError`.  Misuse of the API stays the
ordinary Python exception a user expects (``TypeError``, ``ValueError``, ``IndexError``,
``KeyError``); where a failure is both (a malformed query string is bad data *and* a bad
argument) the class derives from both, so either ``except`` clause catches it.
"""
from __future__ import annotations


class ArchiveError(Exception):
    """Base class of every error this package raises for bad data or an unusable archive."""


class CorruptChunkError(ArchiveError):
    """A chunk's bytes are not what the format allows.

    ``path`` and ``offset`` name where the chunk lives when the caller knows it (the engine
    fills them in; the bare codec, which only sees bytes, leaves them ``None``).
    """

    def __init__(self, message: str, *, path: str | None = None, offset: int | None = None):
        self.reason = message
        self.path = path
        self.offset = offset
        where = ""
        if path is not None:
            where = f" in {path}" + (f" at offset {offset}" if offset is not None else "")
        super().__init__(f"corrupt chunk{where}: {message}")


class CorruptIndexError(ArchiveError):
    """The LMDB index holds entries that contradict each other or the segment files."""


class ArchiveVersionError(ArchiveError):
    """The archive was written by an unknown (newer) format version."""


class ArchiveNotFoundError(ArchiveError, FileNotFoundError):
    """Opening for reading a path that holds no archive."""


class ArchiveLockedError(ArchiveError):
    """Another writer holds the archive's write lock."""


class ReadersFullError(ArchiveError):
    """Every reader slot of the archive's index is taken: too many open handles at once."""


class ReadOnlyError(ArchiveError):
    """A write was attempted through a handle opened with ``mode="r"``."""


class KeyExistsError(ArchiveError, KeyError):
    """``append(..., key=k)`` with a key the archive already holds (use ``put`` to replace)."""


class QuerySyntaxError(ArchiveError, ValueError):
    """A ``where`` expression does not parse; the message points at the offending column."""


class BadInputError(ArchiveError, ValueError):
    """Input records or lines that cannot be ingested (malformed JSON, bad key field...)."""


class StorageError(ArchiveError, OSError):
    """The operating system refused a write (disk full, file size limit...).

    Raised by the writer after it has rolled back the failed batch: everything committed
    before stays intact and readable.
    """
