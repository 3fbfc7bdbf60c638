"""Tunable settings, persisted in the index on creation and read back on every open."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Final

from archive.codec.chunk import MAX_ITEMS, MAX_RAW_BYTES
from archive.codec.zdict import MAX_DICT_BYTES, MIN_DICT_BYTES
from archive.storage.bundles import MAX_BUNDLE_MEMBER
from archive.errors import ArchiveNotFoundError, ArchiveVersionError, CorruptIndexError
from archive.index.store import LMDB_DAMAGE, IndexStore

#: Version of the on-disk layout (index tables, segment files, chunk format).
FORMAT_VERSION: Final = 4


@dataclass(frozen=True)
class Settings:
    """How an archive is written.  Fixed at creation; later opens use the stored values.

    ``group_rows``/``group_bytes``: records are cut into groups (every column's chunks of a
    group cover the same records) at this many records or this much raw column data.
    ``chunk_items``/``chunk_bytes``: a column of one group is split into several chunks beyond
    these.  ``zstd_level``: compression on top of each chunk's encoding.
    ``segment_bytes``: segment files rotate past this size.
    ``zstd_dict_bytes``: when not 0, each column whose first chunks are small gets a zstd
    dictionary of this size trained on them, kept when it pays (:mod:`archive.codec.zdict`):
    for archives committed a few records at a time.
    ``bundle_bytes``: chunks whose encoded payload is at most this size are stored
    uncompressed and packed with the group's other small chunks into bundles of one zstd frame
    each (:mod:`archive.storage.bundles`): wide records and small commits have many tiny
    chunks, which compress far better together.  Reading one member decompresses its whole
    bundle, so a scan of a bundled column also pays for its neighbours: the default bundles
    only chunks too small to compress alone (raise it for wide records of few rows, e.g.
    16 KiB; 0 turns bundling off).
    """

    group_rows: int = 4096
    group_bytes: int = 8 << 20
    chunk_items: int = 1 << 20
    chunk_bytes: int = 16 << 20
    zstd_level: int = 9
    segment_bytes: int = 256 << 20
    zstd_dict_bytes: int = 0
    bundle_bytes: int = 2 << 10

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, int) or isinstance(v, bool):
                raise TypeError(f"setting {f.name} must be an int, not {type(v).__name__}")
        if not 1 <= self.group_rows <= MAX_ITEMS:
            raise ValueError(f"group_rows must be 1..{MAX_ITEMS}")
        if not 1 <= self.chunk_items <= MAX_ITEMS:
            raise ValueError(f"chunk_items must be 1..{MAX_ITEMS}")
        if not 1024 <= self.chunk_bytes <= MAX_RAW_BYTES // 2:
            raise ValueError(f"chunk_bytes must be 1024..{MAX_RAW_BYTES // 2}")
        if self.group_bytes < 1024:
            raise ValueError("group_bytes must be at least 1024")
        if not -7 <= self.zstd_level <= 22:
            raise ValueError("zstd_level must be -7..22")
        if self.segment_bytes < 4096:
            raise ValueError("segment_bytes must be at least 4096")
        if self.zstd_dict_bytes and not MIN_DICT_BYTES <= self.zstd_dict_bytes <= MAX_DICT_BYTES:
            raise ValueError(f"zstd_dict_bytes must be 0 (off) or {MIN_DICT_BYTES}..{MAX_DICT_BYTES}")
        if not 0 <= self.bundle_bytes <= MAX_BUNDLE_MEMBER:
            raise ValueError(f"bundle_bytes must be 0 (off) .. {MAX_BUNDLE_MEMBER}")

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> "Settings":
        try:
            return cls(**json.loads(raw))
        except (ValueError, TypeError) as e:
            raise CorruptIndexError(f"stored settings unreadable: {e}") from None


def check_version(raw: bytes | None, where: str) -> None:
    if raw is None:
        raise CorruptIndexError(f"{where}: the index has no format version")
    try:
        v = int(raw)
    except ValueError:
        raise CorruptIndexError(f"{where}: format version {raw!r} is not a number") from None
    if v > FORMAT_VERSION:
        raise ArchiveVersionError(
            f"{where} has format version {v}; this build of archive reads version "
            f"{FORMAT_VERSION} (upgrade the archive package to open it)"
        )
    if v != FORMAT_VERSION:
        raise ArchiveVersionError(
            f"{where} has format version {v}, written by an older build; this build reads "
            f"version {FORMAT_VERSION} (export it with the older build, e.g. `archive export "
            f"{where} --format jsonl OUT`, and ingest OUT with this one)"
        )


def stored_settings(store: IndexStore, path: Path, mode: str, requested: Settings | None) -> Settings:
    """The settings an archive was created with, checking its format version; in mode "a" an
    index without them is a new archive: ``requested`` (or the defaults) are stored."""
    db = store.db["meta"]
    try:
        with store.read() as txn:
            version, raw = txn.get(b"format", db=db), txn.get(b"settings", db=db)
    except LMDB_DAMAGE as e:
        raise CorruptIndexError(f"the index is damaged: {e}") from None
    if version is None and mode == "a":
        s = requested or Settings()

        def init(txn: Any) -> None:
            txn.put(b"format", str(FORMAT_VERSION).encode(), db=db)
            txn.put(b"settings", s.to_json(), db=db)
            txn.put(b"state", b'{"rows": 0}', db=db)
        store.write(init)
        return s
    if version is None:
        raise ArchiveNotFoundError(f"no archive at {path}: its creation never completed "
                                   "(open with mode='a' to create it)")
    check_version(version, str(path))
    stored = Settings.from_json(raw or b"{}")
    if requested is not None and requested != stored:
        raise ValueError(f"{path} was created with {stored}; settings are fixed at creation")
    return stored


def settings_from_kwargs(kwargs: dict[str, Any]) -> Settings:
    unknown = set(kwargs) - {f.name for f in fields(Settings)}
    if unknown:
        raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
    return Settings(**kwargs)
