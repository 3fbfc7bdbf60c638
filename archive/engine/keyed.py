"""Reading records by key: a mixin of :class:`archive.engine.archive.Archive`.

The writer's uncommitted keys are an exact dict (``Pending.keys``); committed keys go through
the key index (:mod:`archive.index.keys`), whose fingerprint candidates are verified against
the key stored with the candidate's row.  ``get`` verifies with the record it returns when the
key is a field of it, so a hit costs no decoding beyond the record itself.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable
from weakref import WeakKeyDictionary

import numpy as np

from archive.codec.assemble import GroupReader
from archive.codec.shred import Tag

from archive.engine.mutex import serialized
from archive.engine.reading import GroupReading
from archive.errors import CorruptIndexError
from archive.index.keys import KeyIndex
from archive.index.records import encode_key
from archive.index.store import LMDB_DAMAGE


class KeyedReading(GroupReading):
    """``get``, ``get_many`` and ``in`` for an archive handle (uses its view and groups)."""

    _keyidx: KeyIndex
    _check_open: Callable[[], None]

    @serialized
    def get(self, key: str | bytes, default: Any = None) -> Any:
        """The record stored under ``key`` (``default`` when there is none)."""
        slot, rec = self._key_lookup(encode_key(key), fetch=True)
        if slot is None:
            return default
        if rec is None:
            rec = self._read_rows(self._view.content_rows(np.array([slot], dtype=np.int64)))[0]
        return rec

    @serialized
    def get_many(self, keys: Iterable[str | bytes]) -> list:
        """Records for many keys (``None`` where a key is missing), decoded in one batch."""
        slots = self._key_slots([encode_key(k) for k in keys])
        found = [i for i, s in enumerate(slots) if s is not None]
        out: list = [None] * len(slots)
        rows = self._view.content_rows(np.array([slots[i] for i in found], dtype=np.int64))
        for i, rec in zip(found, self._read_rows(rows)):
            out[i] = rec
        return out

    @serialized
    def __contains__(self, key: str | bytes) -> bool:
        return self._key_lookup(encode_key(key), fetch=False)[0] is not None

    def _key_lookup(self, k: bytes, fetch: bool) -> tuple[int | None, Any]:
        """The live slot of encoded key ``k`` and, when ``fetch`` and it was decoded to verify
        the key, the slot's record (else None)."""
        self._check_open()
        if self._writer is not None and k in self._writer.p.keys:
            return self._writer.p.keys[k], None
        view, ki = self._view, self._keyidx
        try:
            txn = view.get_txn()
            for s in ki.find(txn, k, view.rows, view.dead):
                g = int(view.group_first.searchsorted(s, side="right")) - 1
                src = ki.source(txn, g)
                if src is None:
                    continue
                local, rec = s - int(view.group_first[g]), None
                if src.field is None:
                    value = None
                elif fetch and view.redirect.get(s, s) == s:
                    rec = self._read_rows(np.array([s], dtype=np.int64))[0]
                    value = rec.get(src.field) if isinstance(rec, dict) else None
                else:
                    value = self._field_values(g, src.field, np.array([local], dtype=np.int64))[0]
                if src.key_at(local, value) == k:
                    return s, rec
        except LMDB_DAMAGE as e:
            raise CorruptIndexError(f"the index is damaged: {e}") from None
        return None, None

    def _key_slots(self, ks: list[bytes]) -> list[int | None]:
        """The live slot of each encoded key (None: absent), verified in one batch."""
        self._check_open()
        pend = self._writer.p.keys if self._writer is not None else {}
        todo = [k for k in ks if k not in pend] if pend else ks
        view = self._view
        committed = self._keyidx.lookup(view.get_txn(), todo, view.rows, view.dead,
                                        view.group_first, self._field_values) if todo else []
        if not pend:
            return committed
        if committed.count(None) == len(committed):
            return list(map(pend.get, ks))
        found = dict(zip(todo, committed))
        return [pend[k] if k in pend else found[k] for k in ks]

    def _field_values(self, g: int, field: str, local: np.ndarray) -> list:
        """The values of top-level ``field`` at group-local rows of committed group ``g``."""
        reader, _ = self._group(g)
        dense = _DENSE.setdefault(reader, {})
        if field not in dense:
            dense[field] = _dense_column(reader, field)
        col = dense[field]
        if col is not None:
            return col[local].tolist()
        recs = self._records_at(reader, local, {field: None})
        return [r.get(field) if isinstance(r, dict) else None for r in recs]


#: per group reader: top-level field -> its dense column, or None (see _dense_column)
_DENSE: "WeakKeyDictionary[GroupReader, dict[str, Any]]" = WeakKeyDictionary()


def _dense_column(reader: GroupReader, field: str) -> Any:
    """The field's str or bytes column when every record of the group is a dict holding the
    field with a value of that one kind: then record i's value is the column's item i (the
    common keyed layout, read without assembling records).  None otherwise."""
    n = reader.n
    root = reader.ints((), "tag")
    if len(root) != n or not bool((root == Tag.DICT).all()):
        return None
    tags = reader.ints((field,), "tag")
    for slot, tag in (("str", Tag.STR), ("bytes", Tag.BYTES)):
        if len(tags) == n and bool((tags == tag).all()):
            col = reader.col((field,), slot)
            return col if len(col) == n else None
    return None
