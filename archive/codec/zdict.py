"""zstd dictionaries trained per column: for archives of many small groups.

A column whose chunks are small (an archive committed a few records at a time cuts a group at
every commit) compresses poorly on its own: each chunk's zstd frame starts with no history.  A
dictionary trained on the column's first chunks gives every later chunk that history.  With
4,096-record groups the chunks are large enough that dictionaries gain nothing (measured on the
Zeek DNS set), so they are off by default (``Settings.zstd_dict_bytes = 0``).

:class:`DictTrainer` decides, per column, from the payloads of its first small chunks whether a
dictionary pays: it trains one (``zstandard.train_dictionary``) on most of them and keeps it
only when what it saves on the others shows it soon repays its own size (:data:`PAYBACK`).  Training
runs once per column and costs up to ~0.1 s (1 KiB dictionary) to ~0.4 s (64 KiB) at the
largest samples (24 of 64 KiB).  Measured on the
first 20,000 Zeek DNS records committed 100 at a time: 1 KiB dictionaries make the archive
3% smaller, 4 KiB ones 2%.  :class:`Dicts` holds an archive's
dictionaries by id (the id is written into each chunk that uses one, so decoding never depends
on the caller) with one compression/decompression context per thread.
"""
from __future__ import annotations

import threading
from typing import Final, Iterable

import zstandard

from archive.errors import CorruptChunkError

#: A chunk whose payload is larger than this is not a sample, nor compressed with a dictionary
#: (it compresses as well on its own).
MAX_SAMPLE: Final = 64 << 10
#: Samples (chunks) gathered per column before training: a column that does not reach it
#: has few chunks, which a dictionary would not pay for.
SAMPLES: Final = 32
#: Of those, the last ones judge the dictionary trained on the others.
HELD_OUT: Final = 8
#: Sample bytes a trainer holds at most, over all columns (a column that would exceed it goes
#: without a dictionary).
MAX_HELD: Final = 32 << 20
#: A dictionary is kept when it would save at least its size over this on SAMPLES more
#: chunks like the held-out ones (it is stored once and serves every later chunk).
PAYBACK: Final = 2
#: Ids are u16 in the chunk header; 0 means "no dictionary".
MAX_DICTS: Final = 0xFFFF
#: Limits of ``Settings.zstd_dict_bytes`` (besides 0, off).
MIN_DICT_BYTES: Final = 256
MAX_DICT_BYTES: Final = 1 << 20


class Dicts:
    """An archive's dictionaries: id (1..65535) -> the dictionary's bytes."""

    def __init__(self, items: Iterable[tuple[int, bytes]] = ()) -> None:
        self._raw: dict[int, bytes] = dict(items)
        self._local = threading.local()

    def __len__(self) -> int:
        return len(self._raw)

    def __contains__(self, dict_id: int) -> bool:
        return dict_id in self._raw

    def raw(self, dict_id: int) -> bytes:
        return self._raw[dict_id]

    def add(self, raw: bytes) -> int:
        """Hold a new dictionary; returns its id (the next free one)."""
        dict_id = max(self._raw, default=0) + 1
        if dict_id > MAX_DICTS:
            raise ValueError(f"an archive holds at most {MAX_DICTS} dictionaries")
        self._raw[dict_id] = raw
        return dict_id

    def _contexts(self) -> dict:
        ctx = getattr(self._local, "ctx", None)
        if ctx is None:
            ctx = self._local.ctx = {}
        return ctx

    def compressor(self, dict_id: int, level: int) -> zstandard.ZstdCompressor:
        """This thread's compression context for ``dict_id`` at ``level``."""
        ctx = self._contexts()
        c = ctx.get(("c", dict_id, level))
        if c is None:
            d = zstandard.ZstdCompressionDict(self._raw[dict_id])
            c = ctx[("c", dict_id, level)] = zstandard.ZstdCompressor(
                level=level, dict_data=d, write_content_size=True, write_dict_id=True)
        return c

    def decompressor(self, dict_id: int) -> zstandard.ZstdDecompressor:
        """This thread's decompression context for ``dict_id``; a chunk naming a dictionary the
        archive does not hold is a :class:`CorruptChunkError`."""
        ctx = self._contexts()
        d = ctx.get(("d", dict_id))
        if d is None:
            raw = self._raw.get(dict_id)
            if raw is None:
                raise CorruptChunkError(f"chunk was compressed with dictionary {dict_id}, which "
                                        f"the archive does not hold ({len(self._raw)} dictionaries)")
            try:
                d = ctx[("d", dict_id)] = zstandard.ZstdDecompressor(
                    dict_data=zstandard.ZstdCompressionDict(raw))
            except zstandard.ZstdError as e:
                raise CorruptChunkError(f"dictionary {dict_id} is unusable: {e}") from None
        return d


class DictTrainer:
    """Per column (any hashable key): gathers sample payloads, then trains a dictionary once.

    ``offer(key, payload)`` returns the bytes of a dictionary worth keeping when this payload
    completes the column's samples, else None; a column gets one decision per trainer (a
    writer session): after it, offers are ignored.
    """

    def __init__(self, dict_bytes: int, level: int) -> None:
        if not MIN_DICT_BYTES <= dict_bytes <= MAX_DICT_BYTES:
            raise ValueError(f"dictionary size {dict_bytes} is outside {MIN_DICT_BYTES}..{MAX_DICT_BYTES}")
        self.dict_bytes = dict_bytes
        self.level = level
        self._samples: dict[object, list[bytes]] = {}
        self._held = 0  # bytes of samples held, over all columns
        self._decided: set[object] = set()

    def offer(self, key: object, payload: bytes) -> bytes | None:
        if key in self._decided or len(payload) > MAX_SAMPLE:
            return None
        if self._held + len(payload) > MAX_HELD:  # memory stays bounded: this column goes without
            self._held -= sum(map(len, self._samples.pop(key, [])))
            self._decided.add(key)
            return None
        samples = self._samples.setdefault(key, [])
        samples.append(bytes(payload))
        self._held += len(payload)
        if len(samples) < SAMPLES:
            return None
        del self._samples[key]
        self._held -= sum(map(len, samples))
        self._decided.add(key)
        return self._train(samples)

    def _train(self, samples: list[bytes]) -> bytes | None:
        """Train on the first samples, judge on the last :data:`HELD_OUT` (a dictionary always
        shrinks the samples it was trained on: it holds pieces of them)."""
        train: list[bytes | bytearray | memoryview] = [*samples[:-HELD_OUT]]
        test = samples[-HELD_OUT:]
        size = min(self.dict_bytes, max(MIN_DICT_BYTES, sum(map(len, train)) // 4))
        try:
            d = zstandard.train_dictionary(size, train, level=self.level)
        except zstandard.ZstdError:  # too few or too uniform samples
            return None
        plain = zstandard.ZstdCompressor(level=self.level)
        with_dict = zstandard.ZstdCompressor(level=self.level, dict_data=d)
        saved = sum(len(plain.compress(s)) - len(with_dict.compress(s)) for s in test)
        raw = d.as_bytes()
        # it pays when SAMPLES more chunks like these save a PAYBACK-th of its size
        return raw if PAYBACK * saved * SAMPLES >= HELD_OUT * len(raw) else None
