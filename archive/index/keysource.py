"""A group's key source: how to rebuild the key of any of its keyed rows.

The key map (:mod:`archive.index.keyruns`) holds only fingerprints, so every candidate slot is
verified against the key stored with the slot's group.  A group's **key source** (``G`` +
group u64 in the ``keys`` table) is:

``u8 key type`` (1 str, 2 bytes, 3 mixed: parts hold :func:`encode_key` bytes), ``u16`` field
name length, the field name (UTF-8; empty = no field), ``u32`` length of the rows chunk (0 = no
parts stored), then the rows chunk and the parts chunk (ordinary codec chunks, see FORMAT.md).

The key of a keyed row is the row's value of the top-level *field* (when named, and of the
key's type) followed by the row's *part* (when parts are stored; the rows chunk lists, in
ascending order, the group-local rows that have one).  So ``ar.append(rec, key=rec["uid"])``
costs no key bytes at all, ``key=f"{rec['uid']}#{n}"`` stores only the ``#n`` suffixes, and any
other key is stored whole in the parts chunk (encoded with the codec's usual selection).
"""
from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from archive.codec.chunk import decode_chunk
from archive.codec.registry import Kind
from archive.errors import ArchiveError, CorruptIndexError
from archive.index.records import encode_key

SOURCE_HEAD: Final = struct.Struct("<BH")
STR, BYTES, MIXED = 1, 2, 3
#: ``encode(stream, kind, values)``: ``values`` as one codec chunk (FORMAT.md).  ``stream``
#: ("rows" or "parts") names the sequence of chunks it belongs to, so a writer can reuse each
#: stream's encoding choices from one group to the next (see ``chunking.encode_reusing``).
ChunkEncode = Callable[[str, Kind, np.ndarray], bytes]


def source_key(group: int) -> bytes:
    return b"G" + group.to_bytes(8, "big")


@dataclass
class KeySource:
    """How a group's keys are stored (see the module docstring)."""

    ktype: int
    field: str | None
    rows: np.ndarray | None = None
    parts: list | None = None
    #: first row when ``rows`` are consecutive (the usual case), -1 when not, None: unknown
    _start: int | None = None

    def pack(self, encode: ChunkEncode) -> bytes:
        name = (self.field or "").encode("utf-8", "surrogatepass")
        out = [SOURCE_HEAD.pack(self.ktype, len(name)), name]
        if self.parts is None:
            out.append(b"\0\0\0\0")
        else:
            rows = encode("rows", "int", np.asarray(self.rows, dtype=np.int64))
            vals = np.empty(len(self.parts), dtype=object)
            vals[:] = self.parts
            out += [len(rows).to_bytes(4, "little"), rows,
                    encode("parts", "str" if self.ktype == STR else "bytes", vals)]
        return b"".join(out)

    @classmethod
    def unpack(cls, group: int, raw: Any) -> KeySource:
        where = f"group {group}'s key source"
        try:
            ktype, n = SOURCE_HEAD.unpack_from(raw)
            field = bytes(raw[SOURCE_HEAD.size:SOURCE_HEAD.size + n]).decode("utf-8", "surrogatepass")
            at = SOURCE_HEAD.size + n
            rlen = int.from_bytes(raw[at:at + 4], "little")
            if ktype not in (STR, BYTES, MIXED) or len(raw) < at + 4 or (ktype == MIXED and field):
                raise ValueError("malformed header")
            src = cls(ktype, field or None)
            if rlen or len(raw) > at + 4:
                rkind, rows = decode_chunk(memoryview(raw)[at + 4:at + 4 + rlen])
                pkind, parts = decode_chunk(memoryview(raw)[at + 4 + rlen:])
                if rkind != "int" or pkind != ("str" if ktype == STR else "bytes") \
                        or len(rows) != len(parts) or (len(rows) and (rows.min() < 0 or (np.diff(rows) <= 0).any())):
                    raise ValueError("rows and parts disagree")
                src.rows, src.parts = rows.astype(np.int64), list(parts)
            if src.field is None and src.parts is None:
                raise ValueError("neither a field nor parts")
            return src
        except (ValueError, struct.error, UnicodeDecodeError, ArchiveError) as e:
            raise CorruptIndexError(f"{where} is unreadable: {e}") from None

    def _index(self, local: int) -> int | None:
        """Position of group-local row ``local`` in ``rows`` (None: not a keyed row)."""
        rows = self.rows
        assert rows is not None, "only called when parts (and rows) are stored"
        if self._start is None:
            n = len(rows)
            self._start = int(rows[0]) if n and int(rows[-1]) - int(rows[0]) == n - 1 else -1
        if self._start >= 0:
            i = local - self._start
            return i if 0 <= i < len(rows) else None
        i = int(rows.searchsorted(local))
        return i if i < len(rows) and rows[i] == local else None

    def key_at(self, local: int, value: Any) -> bytes | None:
        """The encoded key of group-local row ``local`` given its field value (None: no key)."""
        if self.parts is None:
            part: Any = "" if self.ktype == STR else b""
        else:
            i = self._index(local)
            if i is None:
                return None
            part = self.parts[i]
        if self.ktype == MIXED:
            return bytes(part)
        if self.field is not None:
            want = str if self.ktype == STR else bytes
            if type(value) is not want:
                return None
            part = value + part
        return encode_key(part)
