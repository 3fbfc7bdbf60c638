"""Shredding: a batch of JSON-like records into one value list per column.

The model is tree-buf's, extended for real JSON.  Every *node* is a path through the tree
(a tuple of components: a ``str`` dict key, or :data:`ITEM` for "an element of a list").  The
values arriving at a node, in record order, are split over typed *slots*:

========  =======  =========================================================
slot      kind     holds
========  =======  =========================================================
``tag``   int      one type tag per value at the node (:class:`Tag`)
``bool``  bool     the bool values
``int``   int      the ints that fit int64
``big``   str      larger ints, as decimal text (lossless)
``float`` float    the floats (bit-exact)
``str``   str      the strings
``bytes`` bytes    the byte strings
``len``   int      the lengths of the lists (their elements go to node + ITEM)
``shape`` int      the shape id of each dict: which keys, in which order
========  =======  =========================================================

A dict's fields go to node + key, but only for the dicts that hold the key, so absence and
``None`` stay distinct.  Shapes (key tuples) are numbered per node by a :class:`ShapeTable`
that the engine persists, so key order that differs between records is kept exactly.

Shredding works a whole batch at a time, column-wise (one pass per node over the batch's
values, grouped by type), which is several times faster than walking record by record.  It
validates everything before anything is merged into an accumulator: a bad record raises and
leaves the accumulators untouched.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from itertools import chain, compress
from operator import itemgetter
from typing import Any, Final, Iterable, Sequence

import numpy as np

from archive.codec.registry import Kind
from archive.errors import BadInputError


class _Item:
    """The path component meaning "an element of the list at this node"."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ITEM"

    def __reduce__(self) -> str:
        return "ITEM"


ITEM: Final = _Item()
Path = tuple  # tuple[str | _Item, ...]
ColumnId = tuple  # (Path, slot)


class Tag(IntEnum):
    NULL = 0
    BOOL = 1
    INT = 2
    FLOAT = 3
    STR = 4
    BYTES = 5
    LIST = 6
    DICT = 7
    BIG = 8


#: Slot of the values of each tag (NULL has none; its presence is the tag itself).
TAG_SLOT: Final[dict[Tag, str]] = {
    Tag.BOOL: "bool", Tag.INT: "int", Tag.FLOAT: "float", Tag.STR: "str",
    Tag.BYTES: "bytes", Tag.LIST: "len", Tag.DICT: "shape", Tag.BIG: "big",
}
SLOT_KIND: Final[dict[str, Kind]] = {
    "tag": "int", "bool": "bool", "int": "int", "big": "str", "float": "float",
    "str": "str", "bytes": "bytes", "len": "int", "shape": "int",
}
_EXACT_TAG: Final[dict[type, Tag]] = {
    type(None): Tag.NULL, bool: Tag.BOOL, int: Tag.INT, float: Tag.FLOAT, str: Tag.STR,
    bytes: Tag.BYTES, list: Tag.LIST, tuple: Tag.LIST, dict: Tag.DICT,
}
#: Nesting deeper than this is refused (it would also exhaust Python's recursion on read).
MAX_NESTING: Final = 200
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def path_str(path: Path) -> str:
    """Human-readable path: ``$.a.b[].c`` (keys that need it are quoted)."""
    out = ["$"]
    for c in path:
        if c is ITEM:
            out.append("[]")
        elif c.isidentifier():
            out.append("." + c)
        else:
            out.append(f"[{c!r}]")
    return "".join(out)


def _tag_of(t: type, path: Path) -> Tag:
    """The tag of values of type ``t``; ``TypeError`` naming ``path`` when unsupported."""
    tag = _EXACT_TAG.get(t)
    if tag is not None:
        return tag
    # Subclasses of the supported types (IntEnum, numpy.float64, OrderedDict...) are stored as
    # their base type; bool is checked before int because it is int's subclass.
    for base, tag in ((bool, Tag.BOOL), (int, Tag.INT), (float, Tag.FLOAT), (str, Tag.STR),
                      (bytes, Tag.BYTES), (dict, Tag.DICT), (list, Tag.LIST), (tuple, Tag.LIST)):
        if issubclass(t, base):
            return tag
    raise TypeError(
        f"cannot store {t.__name__} at {path_str(path)}: supported types are None, "
        "bool, int, float, str, bytes, list, tuple and dict with str keys"
    )


@dataclass
class ShapeTable:
    """Per dict node, the key tuples seen so far, numbered from 0 in order of first sight."""

    by_node: dict[Path, dict[tuple[str, ...], int]] = field(default_factory=dict)
    #: Shapes added since the last :meth:`take_new` (the engine persists them on commit).
    new: list[tuple[Path, int, tuple[str, ...]]] = field(default_factory=list)

    def add(self, node: Path, keys: tuple[str, ...]) -> int:
        table = self.by_node.setdefault(node, {})
        sid = table.get(keys)
        if sid is None:
            sid = table[keys] = len(table)
            self.new.append((node, sid, keys))
        return sid

    def shapes(self, node: Path) -> list[tuple[str, ...]]:
        """Shapes of a node indexed by id."""
        return list(self.by_node.get(node, {}))

    def take_new(self) -> list[tuple[Path, int, tuple[str, ...]]]:
        out, self.new = self.new, []
        return out


class Shredder:
    """Turns batches of records into per-column value lists (see the module docstring)."""

    def __init__(self, shapes: ShapeTable | None = None) -> None:
        self.shapes = shapes if shapes is not None else ShapeTable()

    def shred(self, records: Sequence[Any]) -> dict[ColumnId, list]:
        """Columns of a batch: ``{(path, slot): values}``.

        Raises ``TypeError`` (unsupported type, non-str dict key) or
        :class:`~archive.errors.BadInputError` (nesting too deep) naming the path; shapes first
        seen in a failed batch stay registered but unused, which is harmless.
        """
        out: dict[ColumnId, list] = {}
        self._node((), list(records), out, 0)
        return out

    def _node(self, path: Path, values: list, out: dict[ColumnId, list], depth: int) -> None:
        if depth > MAX_NESTING:
            raise BadInputError(f"nesting deeper than {MAX_NESTING} levels at {path_str(path[:8])}...")
        types = set(map(type, values))  # (a set: measured 1.5x faster than dict.fromkeys)
        if len(types) == 1:
            (t,) = types
            tag = _tag_of(t, path)
            out[(path, "tag")] = [int(tag)] * len(values)
            self._typed(path, tag, values, out, depth, exact=t in _EXACT_TAG)
            return
        # Mixed types: tags by type (a few lookups, then one C-level map over the values),
        # each tag's values picked out in one pass, tags in order of first sight.
        by_type = {t: _tag_of(t, path) for t in dict.fromkeys(map(type, values))}  # first seen
        col = out[(path, "tag")] = list(map({t: int(g) for t, g in by_type.items()}.__getitem__,
                                            map(type, values)))
        exact: dict[Tag, bool] = {}
        for t, g in by_type.items():
            exact[g] = exact.get(g, True) and t in _EXACT_TAG
        if len(exact) == 1:
            groups = dict.fromkeys(exact, values)
        else:
            codes = np.array(col, dtype=np.int8)
            groups = {g: list(compress(values, (codes == g).tolist())) for g in exact
                      if g is not Tag.NULL}  # nulls have no values to store
        if Tag.INT in groups:  # big ints get their own tag, so tags are fixed up before typing
            self._split_big(path, groups, out)
        for tag, vals in groups.items():
            self._typed(path, tag, vals, out, depth, exact=exact.get(tag, False))

    def _split_big(self, path: Path, groups: dict[Tag, list], out: dict[ColumnId, list]) -> None:
        """Move the ints outside int64 of ``groups`` to :attr:`Tag.BIG`, retagging them in
        the node's tag column (which lists the node's values, ``groups`` holding them by tag)."""
        ints = groups[Tag.INT]
        if all(_INT64_MIN <= v <= _INT64_MAX for v in ints):
            return
        small: list[int] = []
        big: list[int] = []
        for v in ints:
            (small if _INT64_MIN <= v <= _INT64_MAX else big).append(v)
        it = iter(ints)
        col = out[(path, "tag")]
        for i, t in enumerate(col):
            if t == Tag.INT and not _INT64_MIN <= next(it) <= _INT64_MAX:
                col[i] = int(Tag.BIG)
        groups[Tag.INT] = small
        groups[Tag.BIG] = groups.get(Tag.BIG, []) + big
        if not small:
            del groups[Tag.INT]

    def _typed(self, path: Path, tag: Tag, values: list, out: dict[ColumnId, list], depth: int,
               exact: bool = False) -> None:
        """Store values of one tag; ``exact``: all are of the tag's own type (no subclass),
        so no per-value conversion is needed."""
        if tag is Tag.NULL:
            return
        if tag is Tag.INT:
            if not exact and any(type(v) is not int for v in values):
                values = [int(v) for v in values]
            if min(values) < _INT64_MIN or max(values) > _INT64_MAX:
                # Only reachable through the single-type fast path: re-split by value range.
                groups = {Tag.INT: values}
                self._split_big(path, groups, out)
                for t, vals in groups.items():
                    self._typed(path, t, vals, out, depth)
                return
            out[(path, "int")] = values
        elif tag is Tag.BIG:
            out.setdefault((path, "big"), []).extend(str(int(v)) for v in values)
        elif tag is Tag.BOOL:
            out[(path, "bool")] = values if exact else [bool(v) for v in values]
        elif tag is Tag.FLOAT:
            out[(path, "float")] = values if exact else [float(v) for v in values]
        elif tag is Tag.STR:
            out[(path, "str")] = values if exact else [str.__str__(v) for v in values]
        elif tag is Tag.BYTES:
            out[(path, "bytes")] = values if exact else [bytes(v) for v in values]
        elif tag is Tag.LIST:
            out[(path, "len")] = list(map(len, values))
            items = list(chain.from_iterable(values))
            if items:
                self._node(path + (ITEM,), items, out, depth + 1)
        else:
            self._dicts(path, values, out, depth, exact)

    def _dicts(self, path: Path, dicts: list, out: dict[ColumnId, list], depth: int,
               exact: bool) -> None:
        """Store dicts: their shape ids, then each key's values (node + key) in record order,
        for the dicts that hold the key.  ``exact``: all are plain ``dict`` (no subclass), whose
        values can be read in key order without ``__getitem__``."""
        if not exact:  # subclasses: their keys as iterated, their values as __getitem__ gives
            dicts = [d if type(d) is dict else {k: d[k] for k in d} for d in dicts]
        sids = self._shape_ids(path, dicts)
        out[(path, "shape")] = sids
        distinct = dict.fromkeys(sids)  # in order of first sight
        if len(distinct) <= _FEW_SHAPES:  # each shape's keys from its first dict
            shapes = {sid: tuple(dicts[sids.index(sid)]) for sid in distinct}
        else:
            shapes = {}
            for sid, d in zip(sids, dicts):
                if sid not in shapes:
                    shapes[sid] = tuple(d)
        if len(shapes) == 1:  # one shape: the values of every dict line up, key by key
            (keys,) = shapes.values()
            for k, column in zip(keys, zip(*map(dict.values, dicts))):
                self._node(path + (k,), list(column), out, depth + 1)
            return
        present = len(dicts)
        keys_seen: dict[str, int] = {}  # every key, in order of first sight: how many hold it
        for keys in shapes.values():
            keys_seen.update(dict.fromkeys(keys, 0))
        if len(shapes) <= _FEW_SHAPES:
            for sid, keys in shapes.items():
                n = sids.count(sid)
                for k in keys:
                    keys_seen[k] += n
        for k, holders in keys_seen.items():
            if holders == present:  # in every dict: one lookup each
                vals = list(map(itemgetter(k), dicts))
            else:
                vals = [d[k] for d in dicts if k in d]
            self._node(path + (k,), vals, out, depth + 1)

    def _shape_ids(self, path: Path, dicts: list[dict]) -> list[int]:
        """The shape id of each dict at ``path``, registering the new shapes in order.  (Key
        tuples are made and dropped one at a time: holding thousands would wake the cyclic
        garbage collector, which then walks every live record.)"""
        known = self.shapes.by_node.get(path)
        sids: list[int | None] = list(map(known.get, map(tuple, dicts))) if known else [None] * len(dicts)
        if None not in sids:
            return sids  # type: ignore[return-value]
        for i, d in enumerate(dicts):
            if sids[i] is None:
                keys = tuple(d)
                sid = None if known is None else known.get(keys)  # new earlier in this batch?
                if sid is None:
                    bad = [k for k in keys if type(k) is not str]
                    if bad:
                        raise TypeError(
                            f"dict keys must be str: found {type(bad[0]).__name__} key "
                            f"{bad[0]!r} at {path_str(path)}"
                        )
                    sid = self.shapes.add(path, keys)
                    known = self.shapes.by_node[path]
                sids[i] = sid
        return sids  # type: ignore[return-value]


#: Dicts of at most this many shapes in a batch have the keys held by all of them read with
#: one lookup each (counting holders per shape); more shapes test every key in every dict.
_FEW_SHAPES: Final = 16


def to_array(slot: str, values: Iterable) -> np.ndarray:
    """A column's value list as the numpy array its kind's encodings take."""
    kind = SLOT_KIND[slot]
    vals = values if isinstance(values, list) else list(values)
    if kind in ("str", "bytes"):
        arr = np.empty(len(vals), dtype=object)
        arr[:] = vals
        return arr
    n = len(vals)
    if kind != "float" and n and _constant(vals):
        # ints and bools compare equal only when equal in value (floats do not: -0.0, nan):
        # a filled array is the same, ~30x faster than converting each (tag columns)
        return np.full(n, vals[0], dtype=_NUMERIC[kind])
    # fromiter: a third faster than asarray on a list (measured), and the same conversions
    return np.fromiter(vals, dtype=_NUMERIC[kind], count=n)


def _constant(vals: list) -> bool:
    """Whether every item of a non-empty list equals the first (a cheap look at the head
    first: ``list.count`` costs ~1 ns an item when they are the same object, ~7 otherwise)."""
    first = vals[0]
    head = vals[:_HEAD]
    return head.count(first) == len(head) and vals.count(first) == len(vals)


_HEAD: Final = 64


_NUMERIC: Final = {"int": np.dtype(np.int64), "float": np.dtype(np.float64),
                   "bool": np.dtype(np.bool_)}
