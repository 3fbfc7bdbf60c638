"""String and byte-string encodings (kinds ``str`` and ``bytes``), codec ids 64..127.

=====  ===========  ====================================================================
 id    name         body (``sub`` = u32 length + a nested payload; ``blob`` = u32 + bytes)
=====  ===========  ====================================================================
 64    str-plain    sub: ``count`` lengths (int), blob: the values concatenated.  The
                    fallback: always applies.
 65    str-dict     u32 k distinct values, sub: the k values (same kind, first-occurrence
                    order), sub: ``count`` indices (int, each < k).  Applies when
                    ``count >= DICT_RATIO * k``.
 66    str-const    blob: the one value (``count >= 1`` values, all equal)
=====  ===========  ====================================================================

Text is stored as UTF-8 with ``surrogatepass``, so every Python ``str`` (lone surrogates
included) round-trips.  For ``str`` the plain lengths count *code points*: the decoder turns
the whole blob into one ``str`` with a single ``decode`` and slices it, the fastest way back to
Python objects (measured against a ``decode`` per value); for ``bytes`` they count bytes.

Front coding (shared prefix with the previous value) was measured and left out: after zstd it
saved under 4% even on sorted distinct values (zeek uids, DNS names) and lost on unsorted ones,
while costing a Python-level loop on both sides.  Ids 67..127 are free.

Nesting: a string sub-column (dictionary values, typed-string exceptions) is encoded at
``depth + 1``; from :data:`STR_MAX_NEST` on only the leaf encodings (plain, const) are
candidates, which bounds the work of selection by sampling.
"""
from __future__ import annotations

from typing import Any, Final

import numpy as np

from archive.codec.framing import Reader, Writer
from archive.codec.int_checks import below
from archive.codec.ints import decode_int_sub, encode_int_sub, leaves_of
from archive.codec.lazy import Column, LazyColumn, objects
from archive.codec.registry import (
    Encoding,
    Kind,
    decode_values_lazy,
    encode_values,
    register,
)
from archive.errors import CorruptChunkError

PLAIN: Final = 64
DICT: Final = 65
CONST: Final = 66

#: String encodings with no string sub-columns: all that is left at depth STR_MAX_NEST.
LEAF: Final = (PLAIN, CONST)
#: Encodings with string sub-columns (dict, typed strings) apply at depth < STR_MAX_NEST.
STR_MAX_NEST: Final = 2
#: A dictionary applies when count >= DICT_RATIO * distinct values.
DICT_RATIO: Final = 2
_SURR: Final = "surrogatepass"


# --------------------------------------------------------------------------- shared helpers


def utf8(s: str) -> bytes:
    return s.encode("utf-8", _SURR)


def join(items: list, kind: Kind) -> bytes:
    """The values concatenated: UTF-8 (surrogatepass) for ``str``, as is for ``bytes``."""
    return utf8("".join(items)) if kind == "str" else b"".join(items)


def lengths(items: list) -> np.ndarray:
    return np.fromiter(map(len, items), dtype=np.int64, count=len(items))


def check_lengths(lens: np.ndarray, total: int) -> None:
    """Lengths must each be 0..total and sum to exactly ``total`` (before any slicing)."""
    if len(lens) == 0:
        if total:
            raise CorruptChunkError(f"no values for {total} bytes of data")
        return
    if len(lens) <= 48:  # Python ints: cheaper than numpy's calls on a few values
        items = lens.tolist()
        if min(items) < 0:  # then each is at most total when they sum to it (no wrap-around)
            raise CorruptChunkError(f"value length outside 0..{total}")
        s = sum(items)
    else:
        if int(np.maximum.reduce(lens.view(np.uint64))) > total:  # negatives wrap to huge
            raise CorruptChunkError(f"value length outside 0..{total}")
        s = int(np.add.reduce(lens))  # no overflow: count * total stays far below 2**63
    if s != total:
        raise CorruptChunkError(f"value lengths sum to {s}, data holds {total}")


class PlainColumn(LazyColumn):
    """Values cut from one concatenation by their lengths (code points for str, else bytes).

    Made with every check of the eager decode: the text must be valid UTF-8 (surrogatepass)
    and the lengths must sum to its length.  A full decode cuts ASCII text in one ``split``
    (a NUL after each value); a partial one slices the text per requested row.
    """

    __slots__ = ("_ends", "_kind", "_lens", "_raw", "_src", "_text")

    def __init__(self, data: bytes | memoryview, lens: np.ndarray, kind: Kind) -> None:
        super().__init__(len(lens), call_rows=32)
        raw = bytes(data)
        text: str | bytes | None = None
        if kind == "str" and not raw.isascii():
            text = raw.decode("utf-8", _SURR)
        check_lengths(lens, len(raw) if text is None else len(text))
        self._raw, self._text, self._lens, self._kind = raw, text, lens, kind
        self._src: str | bytes | None = text  # what values are sliced from (built when needed)
        self._ends: np.ndarray | None = None

    def _decode_all(self) -> np.ndarray:
        raw, lens, kind, n = self._raw, self._lens, self._kind, self._n
        if self._text is None and b"\0" not in raw and n:
            # Code points are bytes: put a NUL after each value and let split() make the objects.
            w = len(raw) // n
            if w * n == len(raw) and bool((lens == w).all()):  # one width (ids): rows of a matrix
                sep: np.ndarray = np.zeros((n, w + 1), dtype=np.uint8)
                sep[:, :w] = np.frombuffer(raw, dtype=np.uint8).reshape(n, w)
            else:
                sep = np.zeros(len(raw) + n, dtype=np.uint8)
                keep = np.ones(len(raw) + n, dtype=bool)
                keep[np.cumsum(lens) + np.arange(n)] = False
                sep[keep] = np.frombuffer(raw, dtype=np.uint8)
            joined = sep.tobytes()
            parts = joined.decode("ascii").split("\0") if kind == "str" else joined.split(b"\0")
            return objects(parts, n)  # the first n: the last part is the empty tail
        ends = np.cumsum(lens)
        whole = self._whole()
        return objects([whole[a:b] for a, b in zip((ends - lens).tolist(), ends.tolist())], n)

    def _whole(self) -> str | bytes:
        if self._src is None:
            self._src = self._raw.decode("ascii") if self._kind == "str" else self._raw
        return self._src

    def _render_one(self, j: int) -> str | bytes:
        if self._ends is None:
            self._ends = np.cumsum(self._lens)
        b = int(self._ends[j])
        a = b - int(self._lens[j])
        if self._src is None and self._kind == "str":  # ASCII: decode just this value
            return self._raw[a:b].decode("ascii")
        return self._whole()[a:b]

    def _render(self, rows: np.ndarray) -> np.ndarray:
        if self._ends is None:
            self._ends = np.cumsum(self._lens)
        ends = self._ends[rows]
        whole = self._whole()
        return objects([whole[a:b] for a, b in zip((ends - self._lens[rows]).tolist(),
                                                   ends.tolist())], len(rows))


class DictColumn(LazyColumn):
    """Dictionary values ``uniques`` (a column itself, maybe lazy) at indices ``idx``."""

    __slots__ = ("_idx", "_uniques")

    def __init__(self, uniques: Column, idx: np.ndarray) -> None:
        super().__init__(len(idx), call_rows=32)
        self._uniques, self._idx = uniques, idx

    def _decode_all(self) -> np.ndarray:
        return np.asarray(self._uniques)[self._idx]

    def _render(self, rows: np.ndarray) -> np.ndarray:
        u = self._uniques
        if isinstance(u, LazyColumn) and 4 * len(rows) >= len(u):
            u = u.materialize()  # the whole (smaller) dictionary, then one C-level gather
        return np.asarray(u[self._idx[rows]])

    def _render_one(self, j: int) -> Any:
        return self._uniques.item(int(self._idx[j]))


def encode_sub(kind: Kind, values: np.ndarray | list, depth: int,
               only: tuple[int, ...] | None = None) -> bytes:
    """Payload of a str/bytes sub-column of an encoding at ``depth`` (leaf-only when deep)."""
    d = depth + 1
    if d >= STR_MAX_NEST:
        only = leaves_of(only, LEAF, PLAIN)
    arr = values if isinstance(values, np.ndarray) else objects(values)
    return encode_values(kind, arr, d, only=only)


def decode_sub_lazy(r: Reader, kind: Kind, count: int, depth: int) -> Column:
    """A str/bytes sub-column, lazily (see :func:`archive.codec.registry.decode_values_lazy`)."""
    return decode_values_lazy(kind, r.blob(), count, depth + 1)


def check_count(k: int, count: int) -> None:
    """A declared number of distinct values must be 1..count, or 0 iff count is 0."""
    if k > count or (k == 0) != (count == 0):
        raise CorruptChunkError(f"{k} distinct values declared for {count} values")


# --------------------------------------------------------------------------- encodings


@register
class StrPlain(Encoding):
    codec_id = PLAIN
    name = "str-plain"
    kinds = frozenset({"str", "bytes"})
    replays = True

    def encode(self, values: np.ndarray, kind: Kind, depth: int) -> bytes:
        items = values.tolist()
        w = Writer()
        w.blob(encode_int_sub(lengths(items), depth))
        w.blob(join(items, kind))
        return w.getvalue()

    def decode(self, r: Reader, count: int, kind: Kind, depth: int) -> np.ndarray:
        return self.decode_lazy(r, count, kind, depth).materialize()

    def decode_lazy(self, r: Reader, count: int, kind: Kind, depth: int) -> PlainColumn:
        lens = decode_int_sub(r, count, depth)
        return PlainColumn(r.blob(), lens, kind)


@register
class StrDictionary(Encoding):
    codec_id = DICT
    name = "str-dict"
    kinds = frozenset({"str", "bytes"})
    replays = True

    def encode(self, values: np.ndarray, kind: Kind, depth: int) -> bytes | None:
        n = len(values)
        if depth >= STR_MAX_NEST or n < 2:
            return None
        items = values.tolist()
        first: dict = {}
        # Each value's first position, in one C-level pass; dense ids follow by np.unique.
        pos = np.fromiter(map(first.setdefault, items, range(n)), dtype=np.int64, count=n)
        k = len(first)
        if k * DICT_RATIO > n:
            return None  # too many distinct values
        starts = np.flatnonzero(pos == np.arange(n))  # where each value first occurs
        lut = np.zeros(n, dtype=np.int64)
        lut[starts] = np.arange(k)
        w = Writer()
        w.u32(k)
        w.blob(encode_sub(kind, values[starts], depth))
        w.blob(encode_int_sub(lut[pos], depth))
        return w.getvalue()

    def decode(self, r: Reader, count: int, kind: Kind, depth: int) -> np.ndarray:
        return self.decode_lazy(r, count, kind, depth).materialize()

    def decode_lazy(self, r: Reader, count: int, kind: Kind, depth: int) -> DictColumn:
        k = r.u32()
        check_count(k, count)
        uniques = decode_sub_lazy(r, kind, k, depth)
        idx = decode_int_sub(r, count, depth)
        if not below(idx, k):
            raise CorruptChunkError(f"dictionary index outside 0..{k - 1}")
        return DictColumn(uniques, idx)


@register
class StrConstant(Encoding):
    codec_id = CONST
    name = "str-const"
    kinds = frozenset({"str", "bytes"})

    def encode(self, values: np.ndarray, kind: Kind, depth: int) -> bytes | None:
        items = values.tolist()
        if not items or items.count(items[0]) != len(items):
            return None
        v = items[0]
        w = Writer()
        w.blob(utf8(v) if kind == "str" else bytes(v))
        return w.getvalue()

    def decode(self, r: Reader, count: int, kind: Kind, depth: int) -> np.ndarray:
        if count == 0:
            raise CorruptChunkError("constant column of no values")
        raw = bytes(r.blob())
        v = raw.decode("utf-8", _SURR) if kind == "str" else raw
        out = np.empty(count, dtype=object)
        out.fill(v)
        return out
