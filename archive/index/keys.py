"""Record keys: each group's key source (:mod:`archive.index.keysource`) written at commit,
and exact lookups through the key runs (:mod:`archive.index.keyruns`), every candidate slot
verified against the key its group's source rebuilds.
"""
from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from dataclasses import dataclass
from itertools import repeat
from typing import Any, Callable, Final, Sequence

import lmdb
import numpy as np

from archive.errors import ArchiveError, CorruptIndexError
from archive.index import keyruns as kr
from archive.index.keysource import BYTES, MIXED, STR, ChunkEncode, KeySource, source_key
from archive.index.records import decode_key, encode_key
from archive.index.store import LMDB_DAMAGE

BLOCK_CACHE: Final = 512
#: ``field_values(group, field, local_rows)``: the rows' values of a top-level field.
FieldValues = Callable[[int, str, np.ndarray], list]


# --- the writer's side -----------------------------------------------------------------------
@dataclass
class KeyBatch:
    """Keys given to one ``extend``: rows ``first..first+len(keys)-1``, the top-level field
    every key starts with (if any) and what follows it (None when nothing does)."""

    first: int
    keys: list
    field: str | None
    parts: list | None


def describe_batch(first: int, records: Sequence[Any], keys: Sequence[str | bytes]) -> KeyBatch:
    """Find the top-level field whose value every key of the batch starts with (the longest
    such value in the first record wins), so the group stores only what follows it."""
    ktypes = set(map(type, keys))
    keys = list(keys) if ktypes <= {str, bytes} else \
        [k if type(k) in (str, bytes) else decode_key(encode_key(k)) for k in keys]  # plain types
    rec0, k0 = records[0], keys[0]
    cands = sorted((f for f, v in rec0.items()
                    if type(v) is type(k0) and v and k0.startswith(v)),  # type: ignore[arg-type]  # same type
                   key=lambda f: -len(rec0[f])) if isinstance(rec0, dict) else []
    plain = set(map(type, records)) == {dict}
    for f in cands:
        vals = _prefix_values(records, keys, f, plain)
        if vals is not None:
            parts = [k[len(v):] for k, v in zip(keys, vals)]
            return KeyBatch(first, keys, f, parts if any(parts) else None)
    return KeyBatch(first, keys, None, None)


def _prefix_values(records: Sequence[Any], keys: list, f: str, plain: bool) -> list | None:
    """Every record's value of top-level field ``f`` when each is of its key's type and a
    prefix of it, else None (``plain``: every record is a dict, read in bulk)."""
    ktypes = set(map(type, keys))
    if plain and len(ktypes) == 1:
        vals = list(map(dict.get, records, repeat(f)))
        kt: Any = ktypes.pop()
        if set(map(type, vals)) == {kt} and all(map(kt.startswith, keys, vals)):
            return vals
        return None
    out: list = []
    for rec, k in zip(records, keys):
        v: Any = rec.get(f) if isinstance(rec, dict) else None
        if type(v) is not type(k) or not k.startswith(v):
            return None
        out.append(v)
    return out


def group_source(batches: list[KeyBatch], first: int, n: int) -> KeySource | None:
    """The key source of the group of rows ``first..first+n-1`` (None: no keyed rows)."""
    rows: list[int] = []
    keys: list[Any] = []
    parts: list[Any] = []
    fields: set[str | None] = set()
    for b in batches:
        a, z = max(first, b.first), min(first + n, b.first + len(b.keys))
        if a >= z:
            continue
        rows.extend(range(a - first, z - first))
        keys.extend(b.keys[a - b.first:z - b.first])
        fields.add(b.field)
        parts.extend(b.parts[a - b.first:z - b.first] if b.parts is not None
                     else [type(k)() for k in b.keys[a - b.first:z - b.first]])
    if not rows:
        return None
    types = {type(k) for k in keys}
    if len(types) > 1:
        return KeySource(MIXED, None, np.array(rows), [encode_key(k) for k in keys])
    ktype = STR if str in types else BYTES
    if len(fields) == 1 and None not in fields:
        return KeySource(ktype, fields.pop(), *((np.array(rows), parts) if any(parts) else (None, None)))
    return KeySource(ktype, None, np.array(rows), keys)


def write_commit(txn: lmdb.Transaction, db: Any, pending: dict[bytes, int | None],
                 batches: list[KeyBatch], groups: list[tuple[int, int, int]], dead: np.ndarray,
                 encode: ChunkEncode) -> None:
    """One commit's key changes: the key sources of the new ``groups`` (id, first row, rows)
    and one new run of the keys added (merged into older runs as the policy says)."""
    for g, first, n in groups:
        src = group_source(batches, first, n)
        if src is not None:
            txn.put(source_key(g), src.pack(encode), db=db)
    man = kr.read_manifest(txn, db)
    new = [k for k, s in pending.items() if s is not None]
    if man is not None and not new:
        return
    man = man or kr.Manifest.fresh()
    slots = np.fromiter((s for s in pending.values() if s is not None), dtype=np.int64, count=len(new))
    kr.add_run(txn, db, man, kr.fingerprints(man.salt, new), slots, dead)


def reset_for_rebuild(txn: lmdb.Transaction, db: Any) -> None:
    """Empty the key table for a compaction, keeping the salt and the run numbering."""
    man = kr.read_manifest(txn, db)
    txn.drop(db, delete=False)
    if man is not None:
        txn.put(kr.MANIFEST_KEY, kr.Manifest(man.salt, man.next_run, man.runs[:0]).pack(), db=db)


def table_bytes(txn: lmdb.Transaction, db: Any) -> int:
    """Bytes of keys and values in the key table (runs, extents, key sources)."""
    return sum(len(k) + len(v) for k, v in txn.cursor(db=db))


# --- the reader's side -----------------------------------------------------------------------
class KeyIndex:
    """Exact key lookups for one archive handle, with caches of run heads, decoded blocks and
    key sources (runs are immutable and their ids never reused, so only the key sources need
    dropping, which happens whenever the manifest changes)."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self._man_raw: Any = None
        self._man: kr.Manifest | None = None
        self._heads: dict[int, kr.RunHead] = {}
        self._blocks: OrderedDict[tuple[int, int], tuple[array, array]] = OrderedDict()
        self._sources: dict[int, KeySource | None] = {}

    def manifest(self, txn: lmdb.Transaction) -> kr.Manifest | None:
        raw = txn.get(kr.MANIFEST_KEY, db=self.db)
        if raw != self._man_raw:
            self._man = None if raw is None else kr.Manifest.unpack(raw)
            self._man_raw = raw
            self._sources.clear()
            live = set() if self._man is None else set(self._man.runs["id"].tolist())
            self._heads = {r: h for r, h in self._heads.items() if r in live}
        return self._man

    def _head(self, txn: lmdb.Transaction, run: int) -> kr.RunHead:
        head = self._heads.get(run)
        if head is None:
            head = self._heads[run] = kr.parse_head(run, txn.get(kr.run_key(run), db=self.db))
        return head

    def _block(self, txn: lmdb.Transaction, head: kr.RunHead, b: int,
               cache: bool = True) -> tuple[array, array]:
        """Block ``b`` of a run as compact arrays (bisect on them is cheaper than numpy calls
        for one key), through the LRU of decoded blocks (kept there only when ``cache``)."""
        hit = self._blocks.get((head.run, b))
        if hit is not None:
            self._blocks.move_to_end((head.run, b))
            return hit
        ext = txn.get(kr.extent_key(head.run, int(head.fence[b]["ext"])), db=self.db)
        fps, slots = kr.decode_block(head, b, ext)
        out = (array("I", fps.tobytes()), array("q", slots.tobytes()))
        if cache:
            self._blocks[(head.run, b)] = out
            if len(self._blocks) > BLOCK_CACHE:
                self._blocks.popitem(last=False)
        return out

    def source(self, txn: lmdb.Transaction, group: int) -> KeySource | None:
        if group not in self._sources:
            raw = txn.get(source_key(group), db=self.db)
            self._sources[group] = None if raw is None else KeySource.unpack(group, raw)
        return self._sources[group]

    def find(self, txn: lmdb.Transaction, key: bytes, rows: int, dead: np.ndarray) -> list[int]:
        """Live candidate slots of an encoded key (unverified), newest run first."""
        man = self.manifest(txn)
        if man is None or not len(man.runs):
            return []
        fp = kr.fingerprint(man.salt, key)
        out: list[int] = []
        for run in reversed(man.runs["id"].tolist()):
            head = self._head(txn, run)
            for b in range(max(bisect_left(head.firsts, fp) - 1, 0), bisect_right(head.firsts, fp)):
                bf, bs = self._block(txn, head, b)
                out.extend(bs[bisect_left(bf, fp):bisect_right(bf, fp)])
        for s in out:
            if s >= rows:
                raise CorruptIndexError(f"a key run entry maps to row {s}, past the {rows} rows")
        if len(dead) and out:
            return [s for s, ok in zip(out, kr.live_mask(np.array(out, dtype=np.int64), dead).tolist()) if ok]
        return out

    def find_many(self, txn: lmdb.Transaction, keys: list[bytes], rows: int,
                  dead: np.ndarray) -> list[list[int]]:
        """:meth:`find` for many keys at once: per run, the blocks any key may lie in are
        loaded once and every key is searched with one vectorized ``searchsorted``."""
        man = self.manifest(txn)
        none: list[int] = []
        out = [none] * len(keys)  # shared and never mutated: hits get a list of their own
        if man is None or not len(man.runs) or not keys:
            return out
        fps = kr.fingerprints(man.salt, keys).astype(np.int64)
        for run in reversed(man.runs["id"].tolist()):
            head = self._head(txn, run)
            firsts = head.fence["first"].astype(np.int64)
            lo = np.maximum(np.searchsorted(firsts, fps, side="left") - 1, 0)
            hi = np.searchsorted(firsts, fps, side="right")
            span = np.zeros(len(firsts) + 1, dtype=np.int64)
            np.add.at(span, lo, 1)
            np.add.at(span, hi, -1)
            need = np.flatnonzero(np.cumsum(span)[:-1] > 0).tolist()
            if not need:  # every fingerprint sorts before the run's first
                continue
            cache = len(need) <= BLOCK_CACHE // 4  # a bulk check must not flush the hot blocks
            blocks = [self._block(txn, head, b, cache) for b in need]
            bf = np.concatenate([np.frombuffer(f, dtype=np.uint32) for f, _ in blocks]).astype(np.int64)
            bs = np.concatenate([np.frombuffer(s, dtype=np.int64) for _, s in blocks])
            a = np.searchsorted(bf, fps, side="left")
            z = np.searchsorted(bf, fps, side="right")
            for i in np.flatnonzero(z > a).tolist():
                out[i] = out[i] + bs[a[i]:z[i]].tolist()
        flat = np.array([s for c in out for s in c], dtype=np.int64)
        if len(flat) and int(flat.max()) >= rows:
            raise CorruptIndexError(f"a key run entry maps to row {int(flat.max())}, past the {rows} rows")
        if len(dead) and len(flat):
            live = set(flat[kr.live_mask(flat, dead)].tolist())
            out = [[s for s in c if s in live] for c in out]
        return out

    def entries(self, txn: lmdb.Transaction) -> tuple[np.ndarray, np.ndarray]:
        """Every entry of every run (fingerprints, slots), decoded and checked."""
        man = self.manifest(txn)
        parts = [kr.read_run(txn, self.db, r) for r in ([] if man is None else man.runs["id"].tolist())]
        if not parts:
            return np.zeros(0, np.uint32), np.zeros(0, np.int64)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def stored_keys(self, txn: lmdb.Transaction, slots: list[int], group_first: np.ndarray,
                    field_values: FieldValues) -> dict[int, bytes | None]:
        """The encoded key stored for each slot row (None: the row has none)."""
        out: dict[int, bytes | None] = {}
        arr = np.array(sorted(set(slots)), dtype=np.int64)
        groups = np.searchsorted(group_first, arr, side="right") - 1
        for g in np.unique(groups).tolist():
            sel = arr[groups == g]
            src = self.source(txn, g)
            if src is None:
                out.update(dict.fromkeys(sel.tolist()))
                continue
            local = sel - int(group_first[g])
            vals = field_values(g, src.field, local) if src.field is not None else [None] * len(local)
            for s, loc, v in zip(sel.tolist(), local.tolist(), vals):
                out[s] = src.key_at(loc, v)
        return out

    def lookup(self, txn: lmdb.Transaction, keys: list[bytes], rows: int, dead: np.ndarray,
               group_first: np.ndarray, field_values: FieldValues) -> list[int | None]:
        """The committed live slot of each encoded key (None: absent), verified exactly."""
        try:
            man = self.manifest(txn)
            if man is None or not len(man.runs):
                return [None] * len(keys)  # nothing committed is keyed (a first ingest)
            cands = self.find_many(txn, keys, rows, dead) if len(keys) > 8 else \
                [self.find(txn, k, rows, dead) for k in keys]
            check = [s for c in cands for s in c]
            stored = self.stored_keys(txn, check, group_first, field_values) if check else {}
        except LMDB_DAMAGE as e:
            raise CorruptIndexError(f"the index is damaged: {e}") from None
        return [_first_match(c, k, stored) if c else None for k, c in zip(keys, cands)]


def _first_match(cands: list[int], k: bytes, stored: dict[int, bytes | None]) -> int | None:
    for s in cands:
        if stored.get(s) == k:
            return s
    return None


def check_runs(ki: KeyIndex, txn: lmdb.Transaction, rows: int, dead: np.ndarray,
               group_first: np.ndarray, field_values: FieldValues) -> list[str]:
    """verify(): every run decodes in order, every live entry's slot stores a key with the
    entry's fingerprint, and no slot is keyed twice."""
    man = ki.manifest(txn)
    if man is None:
        return []
    out, live_slots = [], []
    for run in man.runs["id"].tolist():
        try:
            fps, slots = kr.read_run(txn, ki.db, run)
        except CorruptIndexError as e:
            out.append(str(e))
            continue
        past = slots >= rows
        out.extend(f"key run {run}: entry maps to row {s}, past the {rows} rows" for s in slots[past][:5].tolist())
        keep = ~past & kr.live_mask(slots, dead)
        fps, slots = fps[keep], slots[keep]
        try:
            stored = ki.stored_keys(txn, slots.tolist(), group_first, field_values)
        except ArchiveError as e:
            out.append(f"key run {run}: {e}")
            continue
        for fp, s in zip(fps.tolist(), slots.tolist()):
            k = stored.get(s)
            if k is None or kr.fingerprint(man.salt, k) != fp:
                out.append(f"key run {run}: the entry for row {s} does not match the row's stored key "
                           f"{None if k is None else decode_key(k)!r}")
        live_slots.extend(slots.tolist())
    uniq, counts = np.unique(np.array(live_slots, dtype=np.int64), return_counts=True)
    out.extend(f"row {s} is keyed by {n} key entries" for s, n in zip(uniq[counts > 1].tolist(), counts[counts > 1].tolist()))
    return out
