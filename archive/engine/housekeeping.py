"""Maintenance over an open archive: torn-tail trimming, chunk collections, stats, verify."""
from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from archive.buffers import BufferWithSegments, BufferWithSegmentsCollection
from archive.codec import registry
from archive.codec.lazy import Column
from archive.codec.shred import ITEM, SLOT_KIND, TAG_SLOT, Tag, path_str
from archive.engine.chunkio import decode_ref
from archive.engine.chunking import parent_column
from archive.index.keys import check_runs, table_bytes
from archive.index.records import NO_BUNDLE, NO_PARENT, chunk_stats
from archive.index.store import LMDB_DAMAGE
from archive.engine.view import View
from archive.errors import ArchiveError, CorruptIndexError
from archive.storage.bundles import bundle_sizes, unpack_bundle
from archive.storage.segments import FILE_HEADER, FILE_MAGIC, segment_name

if TYPE_CHECKING:
    from archive.engine.archive import Archive

_SEG_RE = re.compile(r"^seg-(\d{6})\.acs$")


def parse_path(path: str | tuple) -> tuple[str, ...]:
    """A user path: a dotted string, or a tuple of keys (for keys that contain dots)."""
    if isinstance(path, tuple):
        if not all(isinstance(k, str) for k in path):
            raise TypeError("a path tuple holds str keys")
        return path
    if isinstance(path, str):
        return tuple(path.split(".")) if path else ()
    raise TypeError(f"a path is a dotted str or a tuple of keys, not {type(path).__name__}")


def trim_tails(directory: Path, view: View) -> None:
    """Writer open: cut bytes past committed lengths, delete files no commit references."""
    for fv in view.files.values():
        try:
            size = os.path.getsize(fv.path)
        except OSError:
            continue
        if size > fv.length:
            with open(fv.path, "r+b") as f:
                f.truncate(fv.length)
    last = max(view.files, default=-1)
    # Files below ``last`` that nothing references are an older generation a compaction
    # committed over and died before unlinking (kept if any chunk reference names them).
    named = {int(f) for refs in view.group_refs for f in np.unique(refs["file"]).tolist()}
    for name in os.listdir(directory):
        m = _SEG_RE.match(name)
        if m and (int(m.group(1)) > last
                  or (int(m.group(1)) not in view.files and int(m.group(1)) not in named)):
            (directory / name).unlink()


def _node_columns(view: View, path: tuple[str, ...]) -> list[int]:
    """Column ids of the node at ``path`` (its value slots first, then tags)."""
    cols = [cid for cid, (p, slot) in enumerate(view.columns) if p == path]
    return sorted(cols, key=lambda c: view.columns[c][1] == "tag")


def chunks(ar: "Archive", path: str | tuple) -> BufferWithSegmentsCollection:
    """Every committed chunk of the node at ``path``, across all files, in (group, column)
    order: each a standalone chunk for ``decode_chunk`` (a bundled one is copied out of its
    decompressed bundle, the others are slices of the mapped files)."""
    view = ar._view
    p = parse_path(path)
    cols = set(_node_columns(view, p))
    if not cols:
        raise KeyError(f"no column at path {path!r}")
    runs: list[tuple[int, list[tuple[int, int]]]] = []  # (file, or -1: copied) + its segments
    copied: list[bytes] = []
    size = 0
    for refs in view.group_refs:
        for r in refs[np.isin(refs["col"], list(cols))]:
            if int(r["at"]) == NO_BUNDLE:
                f = int(r["file"])
                off, ln = (int(x) for x in view.files[f].segments[int(r["seg"])])
            else:
                f, data = -1, bytes(view.chunk(r))
                off, ln = size, len(data)
                copied.append(data)
                size += ln
            if not runs or runs[-1][0] != f:
                runs.append((f, []))
            runs[-1][1].append((off, ln))
    if not runs:
        raise KeyError(f"path {path!r} has no committed chunks")
    owned = b"".join(copied)
    members = [BufferWithSegments(memoryview(view.files[f].mapped) if f >= 0 else owned,  # type: ignore[arg-type]
                                  np.array(segs, dtype=np.uint64))
               for f, segs in runs]
    return BufferWithSegmentsCollection(*members)


def stats(ar: "Archive") -> dict[str, Any]:
    """Per column: kinds, encodings used and how often, bytes before/after; per file; totals."""
    view = ar._view
    names = {e.codec_id: e.name for e in registry.registered()}
    cols: dict[str, dict[str, Any]] = {}
    share: dict[tuple[int, int], float] = {}  # a bundle's stored bytes per member byte

    def stored(r: np.void) -> float:
        """A chunk's stored bytes; a bundle member's share of its bundle's."""
        if int(r["at"]) == NO_BUNDLE:
            return int(r["stored"])
        key = (int(r["file"]), int(r["seg"]))
        if key not in share:
            try:
                raw, kept = bundle_sizes(view.files[key[0]].chunk(key[1]))
                share[key] = kept / max(raw, 1)
            except (ArchiveError, KeyError):  # verify() reports it
                share[key] = 1.0
        return int(r["stored"]) * share[key]

    for refs in view.group_refs:
        for r in refs:
            path, slot = view.columns[int(r["col"])]
            key = f"{path_str(path)}:{slot}"
            c = cols.setdefault(key, {"path": path_str(path), "slot": slot, "kind": SLOT_KIND[slot],
                                      "chunks": 0, "values": 0, "raw_bytes": 0, "stored_bytes": 0,
                                      "encodings": Counter()})
            c["chunks"] += 1
            c["values"] += int(r["count"])
            c["raw_bytes"] += int(r["raw"])
            c["stored_bytes"] += stored(r)
            c["encodings"][names.get(int(r["enc"]), f"#{int(r['enc'])}")] += 1
    for c in cols.values():
        c["encodings"] = dict(c["encodings"])
        c["stored_bytes"] = round(c["stored_bytes"])
    in_file = Counter(int(f) for refs in view.group_refs for f in refs["file"].tolist())
    files = {segment_name(f): {"bytes": fv.length, "segments": len(fv.segments), "chunks": in_file[f]}
             for f, fv in view.files.items()}
    index_bytes = sum(os.path.getsize(p) for p in (ar.path / "index").glob("*.mdb"))
    key_bytes = table_bytes(view.get_txn(), view.index_store.db["keys"])
    seg_bytes = sum(f["bytes"] for f in files.values())
    return {
        "records": len(ar), "rows": view.rows, "deleted": int(len(view.dead)),
        "groups": len(view.group_first), "bundles": len(share), "columns": cols, "files": files,
        "segment_bytes": seg_bytes, "index_bytes": index_bytes,
        "key_index_bytes": key_bytes, "total_bytes": seg_bytes + index_bytes,
        "settings": asdict(ar.settings),
    }


def verify(ar: "Archive") -> list[str]:
    """Decode every chunk and check the index against the files; a list of problems (empty = ok)."""
    view = ar._view
    view.bundles.clear()  # every bundle is read again from its file, not from memory
    problems: list[str] = []
    for f, fv in sorted(view.files.items()):
        if fv.error:
            problems.append(fv.error)
        try:
            with open(fv.path, "rb") as fh:
                head = fh.read(FILE_HEADER.size)
            magic, _version, fno = FILE_HEADER.unpack(head) if len(head) == FILE_HEADER.size else (b"", 0, -1)
            if magic != FILE_MAGIC or fno != f:
                problems.append(f"{fv.path}: bad file header")
        except OSError as e:
            problems.append(f"{fv.path}: {e.strerror}")
    shapes = ar._writer.shapes.shapes if ar._writer is not None else (lambda p: view.shapes.get(p, []))
    problems.extend(_check_first_items(view))
    bad_bundles: set[tuple[int, int]] = set()  # each reported once, not once per member
    for g, refs in enumerate(view.group_refs):
        decoded: dict[int, list[Column]] = {}
        ok = True
        for r in refs:
            col = int(r["col"])
            if col >= len(view.columns):
                problems.append(f"group {g}: chunk of unknown column {col}")
                ok = False
                continue
            bundle = None if int(r["at"]) == NO_BUNDLE else (int(r["file"]), int(r["seg"]))
            if bundle in bad_bundles:
                ok = False
                continue
            try:
                decoded.setdefault(col, []).append(decode_ref(view, r, SLOT_KIND[view.columns[col][1]]))
            except ArchiveError as e:
                problems.append(str(e))
                ok = False
                if bundle is not None and not _bundle_reads(view, *bundle):
                    bad_bundles.add(bundle)
        if ok:
            problems.extend(_check_entries(view, g, decoded))
            problems.extend(_check_counts(view, g, decoded, shapes))
    try:
        problems.extend(_check_keys(ar))
    except LMDB_DAMAGE as e:
        problems.append(f"the index's key table is damaged: {e}")
    if not problems:
        problems.extend(_check_groups(ar))
    return problems


def _bundle_reads(view: View, file: int, seg: int) -> bool:
    """Whether the bundle in segment ``seg`` of ``file`` decompresses (its members may not)."""
    try:
        unpack_bundle(view.files[file].chunk(seg))
    except (ArchiveError, KeyError):
        return False
    return True


def _check_entries(view: View, g: int, decoded: dict[int, list[Column]]) -> list[str]:
    """Each chunk's directory entry (parent column, statistics) matches its values: queries
    skip chunks on these statistics, so a wrong one would silently drop matches."""
    out = []
    entry = view.group_entries[g]
    try:
        stats = entry.stats()
    except CorruptIndexError as e:
        return [f"group {g}: {e}"]
    for col, parts in decoded.items():
        path, slot = view.columns[col]
        where = f"group {g}: column {path_str(path)}:{slot}"
        idx = np.flatnonzero(entry.refs["col"] == col).tolist()
        parent = parent_column(path, slot)
        want_parent = NO_PARENT if parent is None else view.col_ids.get(parent, -1)
        for i, (j, values) in enumerate(zip(idx, parts)):
            if int(entry.parent[j]) != want_parent:
                out.append(f"{where} chunk {i}: directory names parent column "
                           f"{int(entry.parent[j])}, expected {want_parent}")
            elif stats[j] != chunk_stats(SLOT_KIND[slot], np.asarray(values), slot):
                out.append(f"{where} chunk {i}: statistics {stats[j]} do not match its values")
    return out


def _check_first_items(view: View) -> list[str]:
    """Each chunk's first item is the number of its column's values in the chunks before it."""
    out: list[str] = []
    next_item: dict[int, int] = {}
    for g, entry in enumerate(view.group_entries):
        for col, count, first in zip(entry.refs["col"].tolist(), entry.refs["count"].tolist(),
                                     entry.first.tolist()):
            want = next_item.get(col, 0)
            if first != want:
                out.append(f"group {g}: a chunk of column {col} starts at item {first}, the "
                           f"column's chunks before it hold {want}")
            next_item[col] = want + count
    return out


_SLOT_TAG = {slot: int(tag) for tag, slot in TAG_SLOT.items()}


def _check_counts(view: View, g: int, decoded: dict[int, list[Column]], shapes: Any) -> list[str]:
    """Every column of a group holds exactly the values its parent calls for, and every column
    called for is there (assembly alone only notices columns that are too short)."""
    sizes = {view.columns[c]: sum(len(p) for p in parts) for c, parts in decoded.items()}
    cols = {view.columns[c]: np.asarray(parts[0]) if len(parts) == 1 else np.concatenate(parts)
            for c, parts in decoded.items() if view.columns[c][1] in ("tag", "len", "shape")}
    n = int(view.group_rows[g])
    out = []
    for (path, slot), arr in cols.items():
        if not len(arr):
            continue
        if ((slot == "tag" and (arr.min() < 0 or arr.max() > max(Tag)))
                or (slot == "shape" and (arr.min() < 0 or arr.max() >= len(shapes(path))))
                or (slot == "len" and arr.min() < 0)):
            out.append(f"group {g}: column {path_str(path)}:{slot} holds out-of-range values")
    if out:
        return out

    def called_for(path: tuple) -> int:
        if not path:
            return n
        parent, last = path[:-1], path[-1]
        if last is ITEM:
            lens = cols.get((parent, "len"))
            return 0 if lens is None else int(lens.sum())
        sids = cols.get((parent, "shape"))
        has = np.array([last in keys for keys in shapes(parent)], dtype=bool)
        return 0 if sids is None or not len(has) else int(has[sids].sum())

    wanted = {((), "tag")} if n else set()
    for (path, slot), size in sizes.items():  # cols holds every tag, len and shape column
        if slot == "tag":
            want = called_for(path)
            present = np.unique(cols[(path, slot)]).tolist()
            wanted.update((path, TAG_SLOT[Tag(t)]) for t in present if Tag(t) in TAG_SLOT)
        else:
            tags = cols.get((path, "tag"))
            want = 0 if tags is None else int(np.count_nonzero(tags == _SLOT_TAG[slot]))
            if slot == "len" and cols[(path, slot)].sum():
                wanted.add((path + (ITEM,), "tag"))
            elif slot == "shape":
                table = shapes(path)
                seen = np.unique(cols[(path, slot)]).tolist()
                wanted.update((path + (k,), "tag") for s in seen for k in table[s])
        if size != want:
            out.append(f"group {g}: column {path_str(path)}:{slot} holds {size} values, "
                       f"its parent calls for {want}")
    out.extend(f"group {g}: column {path_str(p)}:{s} is called for but has no chunk"
               for p, s in sorted(wanted - sizes.keys(), key=str))
    return out


def _check_keys(ar: "Archive") -> list[str]:
    """Every key run decodes, sorted, and its live entries match the keys stored with their
    rows; every redirect leads from a live slot to a hidden row."""
    view = ar._view
    try:
        out = check_runs(ar._keyidx, view.get_txn(), view.rows, view.dead, view.group_first,
                         ar._field_values)
    except ArchiveError as e:
        out = [f"the key index is damaged: {e}"]
    # A replaced record's slot is live and its content lives in a hidden (deleted) row.
    dead = set(view.dead.tolist())
    out.extend(f"redirect {slot} -> {row}: {'the slot is deleted' if slot in dead else 'the row is live'}"
               for slot, row in sorted(view.redirect.items()) if slot in dead or row not in dead)
    shared = Counter(view.redirect.values())
    out.extend(f"row {row} is the content of {n} slots" for row, n in sorted(shared.items()) if n > 1)
    return out


def _check_groups(ar: "Archive") -> list[str]:
    """Assemble every record of every group (catches inconsistent parent/child counts)."""
    out = []
    for g in range(len(ar._view.group_first)):
        try:
            reader, _ = ar._group(g)
            reader.records(0, reader.n)
        except ArchiveError as e:
            out.append(f"group {g}: {e}")
    return out


