"""Byte layouts of the index's values, and the encoding of record keys.

All integers in LMDB *keys* are big-endian (so cursor order is numeric order); values are
little-endian.  A group's chunk references are a numpy structured array (:data:`CHUNK_REF`),
read from the group's packed directory (:class:`GroupEntry`) field by field.
"""
from __future__ import annotations

import json
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

import numpy as np

from archive.codec.chunk import HEADER_SIZE
from archive.errors import CorruptIndexError
from archive.index import packed

U32: Final = struct.Struct(">I")
U64: Final = struct.Struct(">Q")
U32U32: Final = struct.Struct(">II")
FILE_VALUE: Final = struct.Struct("<QI")
GROUP_HEAD: Final = struct.Struct("<QIII")
DICT_HEAD: Final = struct.Struct("<II")
NO_PARENT: Final = 0xFFFFFFFF
ROW_VALUE: Final = struct.Struct("<Q")
#: One chunk of a group: which column, where it lies, how many values, sizes, top encoding.
#: ``at`` is :data:`NO_BUNDLE` for a chunk stored as its own segment ``seg``; otherwise the
#: chunk is the ``stored`` bytes at ``at`` in the decompressed bundle that segment ``seg``
#: holds (see :mod:`archive.storage.bundles`).
CHUNK_REF: Final = np.dtype([("col", "<u4"), ("file", "<u4"), ("seg", "<u4"), ("count", "<u4"),
                             ("raw", "<u4"), ("stored", "<u4"), ("enc", "<u4"), ("at", "<u4")])
NO_BUNDLE: Final = 0xFFFFFFFF
_U32: Final = np.uint64(0xFFFFFFFF)
#: the fields of :data:`CHUNK_REF` (a structured dtype always has names; numpy types them Optional)
_REF_FIELDS: Final = cast(tuple[str, ...], CHUNK_REF.names)
#: Positions of fields in a reference built as a list (a writer's, before it knows where the
#: chunk's bundle goes: see archive.storage.bundles.BundlePacker).
REF_FILE, REF_SEG, REF_AT = (_REF_FIELDS.index(f) for f in ("file", "seg", "at"))
#: String statistics keep at most this many characters of the bounds (see chunk_stats).
MAX_STAT_STR: Final = 64
#: Bytes a chunk takes in a group directory besides its statistics: 8 u32 + u64 + u32.
_DIR_ITEM: Final = 4 * 8 + 8 + 4


def encode_key(key: str | bytes) -> bytes:
    """A record key as the index sees it: ``s`` + UTF-8 (lone surrogates kept) for str keys,
    ``b`` + the bytes for bytes keys, so a str key and a bytes key never compare equal."""
    if isinstance(key, str):
        return b"s" + key.encode("utf-8", "surrogatepass")
    if isinstance(key, (bytes, bytearray, memoryview)):
        return b"b" + bytes(key)
    raise TypeError(f"record keys are str or bytes, not {type(key).__name__}")


def encode_keys(keys: Sequence[str | bytes]) -> list[bytes]:
    """:func:`encode_key` of many keys (a batch of plain ``str`` keys in one fast pass)."""
    if set(map(type, keys)) == {str}:
        return [b"s" + k.encode("utf-8", "surrogatepass") for k in cast("list[str]", keys)]
    return [encode_key(k) for k in keys]


def decode_key(raw: bytes) -> str | bytes:
    """The key :func:`encode_key` encoded."""
    if raw[:1] == b"s":
        return raw[1:].decode("utf-8", "surrogatepass")
    if raw[:1] == b"b":
        return raw[1:]
    raise CorruptIndexError(f"stored key {raw[:20]!r} has no type prefix")


@dataclass
class GroupEntry:
    """A group's directory, the ``groups`` value: its rows and, per chunk in (column, part)
    order, its reference (:data:`CHUNK_REF`), the position of its first item in the whole
    column, its parent column (:data:`NO_PARENT` for the root) and its statistics.

    Stored as :data:`GROUP_HEAD` (first row, rows, chunk count, statistics bytes) + one
    packed frame (:mod:`archive.index.packed`) of the eight ``CHUNK_REF`` fields as u32
    arrays, the first items as u64, the parents as u32 (field by field: each compresses as a
    run of similar numbers), then the statistics as one JSON list.  The columns are stored as
    gaps from the previous chunk's, the parents as ``column - parent``, bundle members' places
    as residuals (:func:`_bundle_residuals`), all modulo 2**32: small repeating numbers.  The statistics are parsed
    on first use (:meth:`stats`): opening an archive reads only the references.
    """

    first_row: int
    rows: int
    refs: np.ndarray
    first: np.ndarray
    parent: np.ndarray
    stats_json: bytes
    _stats: list[dict[str, Any]] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def build(cls, first_row: int, rows: int, refs: np.ndarray, first: Sequence[int],
              parent: Sequence[int], stats: list[dict[str, Any]]) -> "GroupEntry":
        """An entry from what a writer knows of a group it just flushed."""
        raw = json.dumps(stats, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")
        return cls(first_row, rows, refs.astype(CHUNK_REF, copy=False),
                   np.asarray(first, dtype="<u8"), np.asarray(parent, dtype="<u4"), raw, stats)

    def pack(self) -> bytes:
        n = len(self.refs)
        refs = _bundle_residuals(self.refs.copy(), -1)
        col = self.refs["col"].astype(np.uint64)
        refs["col"] = (col - np.concatenate((np.zeros(1, np.uint64), col[:-1]))) & _U32  # gaps
        parent = (col - self.parent.astype(np.uint64)) & _U32
        planes = [np.ascontiguousarray(refs[f], dtype="<u4").tobytes() for f in _REF_FIELDS]
        body = b"".join(planes) + self.first.astype("<u8").tobytes() + parent.astype("<u4").tobytes()
        return (GROUP_HEAD.pack(self.first_row, self.rows, n, len(self.stats_json))
                + packed.pack(body + self.stats_json))

    @classmethod
    def unpack(cls, value: bytes | memoryview, group: int) -> "GroupEntry":
        what = f"group {group}"
        if len(value) < GROUP_HEAD.size:
            raise CorruptIndexError(f"{what}: entry of {len(value)} bytes is truncated")
        first_row, rows, n, stats_len = GROUP_HEAD.unpack_from(value)
        planes = n * _DIR_ITEM
        if planes + stats_len > packed.MAX_PACKED:
            raise CorruptIndexError(f"{what}: entry claims {n} chunks and {stats_len} bytes of "
                                    f"statistics, more than an index value may hold")
        body = packed.unpack(memoryview(value)[GROUP_HEAD.size:], what, planes + stats_len)
        fields = len(_REF_FIELDS)  # all u4: the planes transposed are the records
        planes_u4 = np.frombuffer(body, dtype="<u4", count=n * fields).reshape(fields, n)
        # (a copy, C-ordered: the records, which the next lines complete in place)
        refs = _bundle_residuals(planes_u4.T.copy().view(CHUNK_REF).reshape(n), 1)
        col = np.cumsum(refs["col"], dtype=np.uint64) & _U32  # from the gaps
        refs["col"] = col
        at = 4 * n * fields
        first = np.frombuffer(body, dtype="<u8", count=n, offset=at)
        parent = (col - np.frombuffer(body, dtype="<u4", count=n, offset=at + 8 * n)) & _U32
        return cls(first_row, rows, refs, first, parent, body[planes:])

    def stats(self) -> list[dict[str, Any]]:
        """Each chunk's statistics (see :func:`chunk_stats`), in reference order."""
        if self._stats is None:
            try:
                stats = json.loads(self.stats_json.decode("utf-8", "surrogatepass"))
            except (ValueError, UnicodeDecodeError) as e:
                raise CorruptIndexError(f"chunk statistics unreadable: {e}") from None
            if not isinstance(stats, list) or len(stats) != len(self.refs):
                raise CorruptIndexError(f"chunk statistics are not a list of {len(self.refs)} entries")
            for s in stats:
                if not isinstance(s, dict):
                    raise CorruptIndexError("chunk statistics hold an entry that is not a mapping")
                for k in ("min", "max"):
                    if isinstance(s.get(k), float) and math.isnan(s[k]):
                        raise CorruptIndexError("chunk statistics hold NaN bounds")
            self._stats = stats
        return self._stats


def _bundle_residuals(refs: np.ndarray, sign: int) -> np.ndarray:
    """A directory stores each bundle member's ``stored`` and ``at`` as residuals from where
    the writer puts it: a member is a chunk with a raw body (``raw`` + the header), and the
    members of a bundle lie back to back in directory order, so both residuals are 0 and
    their planes compress to nothing.  ``sign`` -1 makes the residuals (packing), 1 undoes
    them (unpacking); arithmetic is modulo 2**32, so any stored value unpacks to some
    reference (a wrong one fails where the chunk is read).  Changes ``refs`` in place (the
    caller passes an array of its own) and returns it."""
    member = np.flatnonzero(refs["at"] != NO_BUNDLE)
    if not len(member):
        return refs
    m = refs[member]
    wrap = np.int64(1 << 32)
    stored = (m["stored"].astype(np.int64) + sign * (m["raw"].astype(np.int64) + HEADER_SIZE)) % wrap
    true_stored = stored if sign > 0 else m["stored"].astype(np.int64)
    key = (m["file"].astype(np.uint64) << np.uint64(32)) | m["seg"].astype(np.uint64)
    order = np.argsort(key, kind="stable")  # each bundle's members, in directory order
    k, size = key[order], true_stored[order]
    before = np.cumsum(size) - size  # bytes of the members sorted before each
    first = np.r_[True, k[1:] != k[:-1]]  # each bundle's first member
    run = np.cumsum(first) - 1  # each member's bundle
    expect = np.empty(len(m), dtype=np.int64)
    expect[order] = before - before[first][run]
    at = (m["at"].astype(np.int64) + sign * expect) % wrap
    if sign < 0 and (at == NO_BUNDLE).any():  # it would unpack as a chunk stored alone
        raise ValueError("a bundle member lies 1 byte before where its bundle's layout puts it")
    refs["stored"][member] = stored
    refs["at"][member] = at
    return refs


def pack_segments(pairs: np.ndarray) -> bytes:
    """A piece of a file's segment table: ``(n, 2)`` (offset, length) pairs, packed as all
    offsets then all lengths (u64 each)."""
    pairs = np.asarray(pairs, dtype="<u8").reshape(-1, 2)
    return packed.pack(np.ascontiguousarray(pairs.T).tobytes())


def unpack_segments(value: bytes | memoryview, what: str) -> np.ndarray:
    """The ``(n, 2)`` uint64 pairs :func:`pack_segments` packed."""
    raw = packed.unpack(value, what)
    if len(raw) % 16:
        raise CorruptIndexError(f"{what}: {len(raw)} bytes are not (offset, length) pairs")
    return np.frombuffer(raw, dtype="<u8").reshape(2, -1).T


def pack_dict(col: int, raw: bytes) -> bytes:
    """A ``dicts`` value: the column the dictionary was trained for, crc32, the dictionary."""
    return DICT_HEAD.pack(col, zlib.crc32(raw)) + raw


def unpack_dict(value: bytes | memoryview, dict_id: int) -> tuple[int, bytes]:
    """(column id, dictionary bytes) of a ``dicts`` value, its checksum verified (a damaged
    dictionary would decode its chunks into other bytes, so it is never used unchecked)."""
    if len(value) < DICT_HEAD.size:
        raise CorruptIndexError(f"dictionary {dict_id}: entry of {len(value)} bytes is truncated")
    col, crc = DICT_HEAD.unpack_from(value)
    raw = bytes(value[DICT_HEAD.size:])
    if zlib.crc32(raw) != crc:
        raise CorruptIndexError(f"dictionary {dict_id}: checksum mismatch")
    return col, raw


def pack_defs(items: list[Any]) -> bytes:
    """A batch of column or shape definitions (a JSON list), packed."""
    return packed.pack(json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "surrogatepass"))


def unpack_defs(value: bytes | memoryview, what: str) -> list[Any]:
    """The list :func:`pack_defs` packed; a damaged or non-list value is a CorruptIndexError."""
    raw = packed.unpack(value, what)
    try:
        items = json.loads(raw.decode("utf-8", "surrogatepass"))
    except (ValueError, UnicodeDecodeError) as e:
        raise CorruptIndexError(f"{what} unreadable: {e}") from None
    if not isinstance(items, list) or not items:
        raise CorruptIndexError(f"{what} is not a non-empty list")
    return items


def pack_columns(defs: list[tuple[list, str]]) -> bytes:
    """A batch of column definitions, ``(path as a JSON list, slot)`` each, packed front-coded:
    ``[k, rest, slot]`` = the first k components of the previous column's path (of the batch)
    followed by ``rest`` (neighbouring columns share most of their paths)."""
    out: list[list[Any]] = []
    prev: list = []
    for path, slot in defs:
        k = 0
        while k < min(len(path), len(prev)) and path[k] == prev[k]:
            k += 1
        out.append([k, path[k:], slot])
        prev = path
    return pack_defs(out)


def unpack_columns(value: bytes | memoryview, what: str) -> list[tuple[list, Any]]:
    """The ``(path, slot)`` pairs :func:`pack_columns` packed (the caller checks the slots);
    a malformed item is a CorruptIndexError."""
    out: list[tuple[list, Any]] = []
    prev: list = []
    for i, item in enumerate(unpack_defs(value, what)):
        k, rest, slot = item if isinstance(item, list) and len(item) == 3 else (None, None, None)
        if (type(k) is not int or not 0 <= k <= len(prev) or not isinstance(rest, list)
                or not all(c is None or isinstance(c, str) for c in rest)):
            raise CorruptIndexError(f"{what}: item {i} is {str(item)[:60]}, not [kept, rest of the path, slot]")
        prev = prev[:k] + rest
        out.append((prev, slot))
    return out


def chunk_stats(kind: str, values: np.ndarray, slot: str) -> dict[str, Any]:
    """Skipping statistics of one chunk: min/max where they apply, the tag set of tag columns."""
    if not len(values):
        return {}
    if slot == "tag":
        return {"tags": int(np.bitwise_or.reduce(np.left_shift(1, values.astype(np.int64))))}
    if kind == "int":
        return {"min": int(values.min()), "max": int(values.max())}
    if kind == "float":
        finite = values[~np.isnan(values)]
        if not len(finite):
            return {"nan": True}
        return {"min": float(finite.min()), "max": float(finite.max()),
                "nan": bool(len(finite) != len(values))}
    if kind == "str" and slot == "str":
        items = values.tolist()  # a list iterates faster than an object array
        hi = _upper_bound(max(items))
        return {} if hi is None else {"min": min(items)[:MAX_STAT_STR], "max": hi}
    return {}


def _upper_bound(s: str) -> str | None:
    """``s`` when it has at most :data:`MAX_STAT_STR` characters, else the shortest string
    above every string that starts with its first MAX_STAT_STR characters: that prefix with
    its last character incremented (past trailing U+10FFFF, which have no successor); None
    when nothing is left.  (A bound cut this way is never equal to the minimum, which is cut
    to a prefix, so a chunk whose bounds are equal holds only that exact value.)"""
    if len(s) <= MAX_STAT_STR:
        return s
    head = s[:MAX_STAT_STR].rstrip("\U0010ffff")
    return head[:-1] + chr(ord(head[-1]) + 1) if head else None
