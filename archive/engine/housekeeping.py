"""Maintenance over an open archive: torn-tail trimming, chunk collections, stats, verify."""
from __future__ import annotations

import os
import re
from collections import Counter, defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from archive.buffers import BufferWithSegments, BufferWithSegmentsCollection
from archive.codec import registry
from archive.codec.shred import SLOT_KIND, path_str
from archive.engine.chunkio import decode_ref
from archive.engine.view import View
from archive.errors import ArchiveError, CorruptChunkError
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
    for name in os.listdir(directory):
        m = _SEG_RE.match(name)
        if m and int(m.group(1)) > last:
            (directory / name).unlink()


def _node_columns(view: View, path: tuple[str, ...]) -> list[int]:
    """Column ids of the node at ``path`` (its value slots first, then tags)."""
    cols = [cid for cid, (p, slot) in enumerate(view.columns) if p == path]
    return sorted(cols, key=lambda c: view.columns[c][1] == "tag")


def chunks(ar: "Archive", path: str | tuple) -> BufferWithSegmentsCollection:
    """Every committed chunk of the node at ``path``, across all files, in (column, group) order."""
    view = ar._view
    p = parse_path(path)
    cols = set(_node_columns(view, p))
    if not cols:
        raise KeyError(f"no column at path {path!r}")
    per_file: dict[int, list[tuple[int, int]]] = defaultdict(list)
    order: list[int] = []
    for g, refs in enumerate(view.group_refs):
        for r in refs[np.isin(refs["col"], list(cols))]:
            f = int(r["file"])
            off, ln = view.files[f].segments[int(r["seg"])]
            if not per_file[f]:
                order.append(f)
            per_file[f].append((int(off), int(ln)))
    members = [BufferWithSegments(memoryview(view.files[f].buffer), np.array(per_file[f], dtype=np.uint64))
               for f in order]
    if not members:
        raise KeyError(f"path {path!r} has no committed chunks")
    return BufferWithSegmentsCollection(*members)


def stats(ar: "Archive") -> dict[str, Any]:
    """Per column: kinds, encodings used and how often, bytes before/after; per file; totals."""
    view = ar._view
    names = {i: registry.get(i).name for i in range(1, 256) if _known(i)}
    cols: dict[str, dict[str, Any]] = {}
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
            c["stored_bytes"] += int(r["stored"])
            c["encodings"][names.get(int(r["enc"]), f"#{int(r['enc'])}")] += 1
    for c in cols.values():
        c["encodings"] = dict(c["encodings"])
    files = {segment_name(f): {"bytes": fv.length, "chunks": len(fv.segments)} for f, fv in view.files.items()}
    index_bytes = sum(os.path.getsize(p) for p in (ar.path / "index").glob("*.mdb"))
    seg_bytes = sum(f["bytes"] for f in files.values())
    return {
        "records": len(ar), "rows": view.rows, "deleted": int(len(view.dead)),
        "groups": len(view.group_first), "columns": cols, "files": files,
        "segment_bytes": seg_bytes, "index_bytes": index_bytes, "total_bytes": seg_bytes + index_bytes,
        "settings": asdict(ar.settings),
    }


def _known(codec_id: int) -> bool:
    try:
        registry.get(codec_id)
        return True
    except CorruptChunkError:
        return False


def verify(ar: "Archive") -> list[str]:
    """Decode every chunk and check the index against the files; a list of problems (empty = ok)."""
    view = ar._view
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
    for g, refs in enumerate(view.group_refs):
        for r in refs:
            col = int(r["col"])
            if col >= len(view.columns):
                problems.append(f"group {g}: chunk of unknown column {col}")
                continue
            try:
                decode_ref(view, r, SLOT_KIND[view.columns[col][1]])
            except ArchiveError as e:
                problems.append(str(e))
    if not problems:
        problems.extend(_check_groups(ar))
    return problems


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


