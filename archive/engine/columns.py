"""One path's values over many groups, read without assembling records.

A path of dict keys holds at most one value per record, so when in a group the path's ``tag``
column holds as many values as the group has rows, every record holds the path and the j-th
value is record j's.  When moreover one value slot (``bool``, ``int``, ``float``, ``str`` or
``bytes``) holds that many values too, every value has that slot's type.  Such a group is
*uniform* for the path: its values are exactly the slot's chunks one after the other, and no
tag, shape or presence column of the path or of its parents needs decoding.  Both counts come
from the groups' chunk references in the index (:meth:`View.col_refs`), so finding the uniform
groups reads no chunk; every decoded chunk is still checked against its reference's count, so
a group's values always number its rows.

Groups that are not uniform (values missing, null or of mixed types, or the writer's pending
group) are read through :meth:`GroupReader.path_values_at`.

Rows whose content was replaced by ``put`` live elsewhere (the view's redirects): callers
handle the groups holding such rows record by record (:func:`moved_slots`).
"""
from __future__ import annotations

from typing import Final

import numpy as np

from archive.codec.assemble import GroupReader
from archive.codec.int_checks import run_starts
from archive.codec.shred import SLOT_KIND
from archive.engine import chunkio
from archive.engine.view import View
from archive.errors import CorruptChunkError
from archive.query.evaluate import Column as EvalColumn
from archive.query.values import K_BYTES, K_STR

#: The slots a uniform path's values can live in, and the dtype their values are returned as.
UNIFORM_DTYPES: Final = {"int": np.dtype(np.int64), "float": np.dtype(np.float64),
                         "bool": np.dtype(np.bool_), "str": np.dtype(object),
                         "bytes": np.dtype(object)}
_EVAL_KIND: Final = {"str": K_STR, "bytes": K_BYTES}


def _group_counts(view: View, col: int) -> np.ndarray:
    """How many values column ``col`` holds in each committed (or flushed) group."""
    groups, refs = view.col_refs(col)
    counts = np.zeros(len(view.group_first), dtype=np.int64)
    np.add.at(counts, groups, refs["count"].astype(np.int64))
    return counts


def uniform_columns(view: View, path: tuple[str, ...]) -> np.ndarray:
    """Per group of the view: the column id of the slot holding every record's value at
    ``path`` (see the module docstring), or -1 where the group is not uniform for it.

    Kept in the view's ``derived`` cache (read-only: do not modify the array).
    """
    key = ("uniform", path)
    out = view.derived.get(key)
    if out is None:
        out = view.derived[key] = _uniform_columns(view, path)
    return out


def _uniform_columns(view: View, path: tuple[str, ...]) -> np.ndarray:
    out = np.full(len(view.group_first), -1, dtype=np.int64)
    tag = view.col_ids.get((path, "tag"))
    if tag is None:
        return out
    rows = view.group_rows
    full = (_group_counts(view, tag) == rows) & (rows > 0)
    if not full.any():
        return out
    for slot in UNIFORM_DTYPES:
        col = view.col_ids.get((path, slot))
        if col is not None:
            out[full & (_group_counts(view, col) == rows)] = col
    return out


def _typed(view: View, col: int, parts: list) -> np.ndarray:
    """The decoded chunks of one column in one group as one array of its uniform dtype."""
    arrays = [np.asarray(p) for p in parts]
    vals = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
    return vals.astype(UNIFORM_DTYPES[view.columns[col][1]], copy=False)


def decode_uniform(view: View, cols: np.ndarray, groups: list[int], threads: int) -> list[np.ndarray]:
    """The values of uniform groups: ``cols[g]`` (a column id, see :func:`uniform_columns`)
    of each group ``g`` in ``groups``, all their chunks decoded in one batch.

    The chunks are picked per column from its references over all groups
    (:meth:`View.col_refs`, group then part order), not group by group."""
    want = np.asarray(groups, dtype=np.int64)
    col_of = cols[want] if len(want) else np.zeros(0, dtype=np.int64)
    batch: list = []
    spans: dict[int, tuple[int, int]] = {}  # group -> its chunks' span in the batch
    for col in np.unique(col_of).tolist():
        gs, refs = view.col_refs(col)
        pick = np.flatnonzero(np.isin(gs, want[col_of == col]))
        kind = SLOT_KIND[view.columns[col][1]]
        picked_groups = gs[pick]
        starts = run_starts(picked_groups)  # each group's first chunk
        bounds = (starts + len(batch)).tolist() + [len(batch) + len(pick)]
        spans.update(zip(picked_groups[starts].tolist(), zip(bounds, bounds[1:])))
        batch.extend(zip(refs[pick], [kind] * len(pick)))
    decoded = chunkio.decode_refs(view, batch, threads)
    out = []
    for g in groups:
        a, b = spans.get(g, (0, 0))
        vals = _typed(view, int(cols[g]), decoded[a:b]) if b > a else np.zeros(0)
        if len(vals) != int(view.group_rows[g]):  # the references' counts were checked
            raise CorruptChunkError(f"group {g} holds {len(vals)} values of a column, "
                                    f"not its {int(view.group_rows[g])} rows")
        out.append(vals)
    return out


def reader_values(reader: GroupReader, view: View, col: int, path: tuple[str, ...],
                  local: np.ndarray, whole: bool) -> np.ndarray | EvalColumn:
    """The values at ``path`` of a group's ``local`` rows through its (cached) reader, for a
    ``where``: a typed array, or an evaluator column whose values are all str (or bytes).

    ``col`` is the group's uniform column for the path, or -1; ``whole`` says ``local`` is
    every row of the group.
    """
    if col < 0:
        return reader.path_values_at(path, local)
    slot = view.columns[col][1]
    vals = _typed(view, col, [reader.col(path, slot)])
    if len(vals) != reader.n:
        raise CorruptChunkError(f"a column of {path!r} holds {len(vals)} values, "
                                f"not the group's {reader.n} rows")
    if not whole:
        vals = vals[local]
    kind = _EVAL_KIND.get(slot)
    return vals if kind is None else EvalColumn.uniform(vals, kind)


def moved_slots(view: View) -> np.ndarray:
    """The slots whose content lives in another row (sorted), from the view's redirects."""
    return np.array(sorted(s for s, r in view.redirect.items() if s != r), dtype=np.int64)
