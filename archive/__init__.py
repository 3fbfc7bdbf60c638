"""archive: an embedded, random-access archive storage engine for tree-shaped records."""
from archive.errors import (
    ArchiveError,
    ArchiveLockedError,
    ArchiveNotFoundError,
    ArchiveVersionError,
    BadInputError,
    CorruptChunkError,
    CorruptIndexError,
    KeyExistsError,
    QuerySyntaxError,
    ReadOnlyError,
    StorageError,
)

__all__ = [
    "ArchiveError",
    "ArchiveLockedError",
    "ArchiveNotFoundError",
    "ArchiveVersionError",
    "BadInputError",
    "CorruptChunkError",
    "CorruptIndexError",
    "KeyExistsError",
    "QuerySyntaxError",
    "ReadOnlyError",
    "StorageError",
]
__version__ = "0.1.0"
