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
    ReadersFullError,
    ReadOnlyError,
    StorageError,
)

from archive.engine.archive import Archive, open  # noqa: A004
from archive.engine.many import ManyArchives, open_many
from archive.engine.settings import Settings

__all__ = [
    "Archive",
    "ManyArchives",
    "Settings",
    "open",
    "open_many",
    "ArchiveError",
    "ArchiveLockedError",
    "ArchiveNotFoundError",
    "ArchiveVersionError",
    "BadInputError",
    "CorruptChunkError",
    "CorruptIndexError",
    "KeyExistsError",
    "QuerySyntaxError",
    "ReadersFullError",
    "ReadOnlyError",
    "StorageError",
]
__version__ = "0.1.0"
