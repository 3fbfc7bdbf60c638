"""Byte layouts of the index's values, and the encoding of record keys.

All integers in LMDB *keys* are big-endian (so cursor order is numeric order); values are
little-endian.  A group's chunk references are a numpy structured array (:data:`CHUNK_REF`), so
reading a group's table is one ``frombuffer`` rather than per-chunk parsing.
"""
from __future__ import annotations

import json
import math
import struct
from collections.abc import Sequence
from typing import Any, Final, cast

import numpy as np

from archive.errors import CorruptIndexError

U32: Final = struct.Struct(">I")
U64: Final = struct.Struct(">Q")
U32U32: Final = struct.Struct(">II")
FILE_VALUE: Final = struct.Struct("<QI")
GROUP_HEAD: Final = struct.Struct("<QII")
COLCHUNK_HEAD: Final = struct.Struct("<QII")
U32U64U32: Final = struct.Struct(">IQI")
NO_PARENT: Final = 0xFFFFFFFF
ROW_VALUE: Final = struct.Struct("<Q")
#: One chunk of a group: which column, where it lies, how many values, sizes, top encoding.
CHUNK_REF: Final = np.dtype([("col", "<u4"), ("file", "<u4"), ("seg", "<u4"), ("count", "<u4"),
                             ("raw", "<u4"), ("stored", "<u4"), ("enc", "<u4")])
MAX_STAT_STR: Final = 256


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


def pack_group(first_row: int, n_rows: int, refs: np.ndarray) -> bytes:
    return GROUP_HEAD.pack(first_row, n_rows, len(refs)) + refs.astype(CHUNK_REF, copy=False).tobytes()


def unpack_group(value: bytes) -> tuple[int, int, np.ndarray]:
    if len(value) < GROUP_HEAD.size:
        raise CorruptIndexError(f"group entry of {len(value)} bytes is truncated")
    first_row, n_rows, n = GROUP_HEAD.unpack_from(value)
    body = memoryview(value)[GROUP_HEAD.size:]
    if len(body) != n * CHUNK_REF.itemsize:
        raise CorruptIndexError(f"group entry lists {n} chunks but holds {len(body)} bytes")
    return first_row, n_rows, np.frombuffer(body, dtype=CHUNK_REF)


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
        lo, hi = min(items), max(items)
        if len(lo) <= MAX_STAT_STR and len(hi) <= MAX_STAT_STR:
            return {"min": lo, "max": hi}
    return {}


def pack_colchunk(first_item: int, count: int, parent: int, stats: dict[str, Any]) -> bytes:
    """A column chunk's entry: its first item's position in the column, its count, the column
    id of its parent (whose chunk in the same group it continues; NO_PARENT for the root) and
    its statistics."""
    return COLCHUNK_HEAD.pack(first_item, count, parent) + json.dumps(stats, ensure_ascii=False).encode(
        "utf-8", "surrogatepass")


def unpack_colchunk(value: bytes) -> tuple[int, int, int, dict[str, Any]]:
    if len(value) < COLCHUNK_HEAD.size:
        raise CorruptIndexError("column chunk entry is truncated")
    first, count, parent = COLCHUNK_HEAD.unpack_from(value)
    try:
        stats = json.loads(bytes(value[COLCHUNK_HEAD.size:]).decode("utf-8", "surrogatepass"))
    except (ValueError, UnicodeDecodeError) as e:
        raise CorruptIndexError(f"column chunk statistics unreadable: {e}") from None
    if not isinstance(stats, dict):
        raise CorruptIndexError("column chunk statistics are not a mapping")
    for k in ("min", "max"):
        if isinstance(stats.get(k), float) and math.isnan(stats[k]):
            raise CorruptIndexError("column chunk statistics hold NaN bounds")
    return first, count, parent, stats
