"""How a writer turns a group's column into chunks: where it is cut (:func:`chunk_pieces`), how
each piece is encoded reusing the column's last choices (:func:`encode_reusing`), and which
column a chunk continues (:func:`parent_column`)."""
from __future__ import annotations

from typing import Any, Final

import numpy as np

from archive.codec.chunk import ChunkEncoder, EncodedChunk
from archive.codec.plans import Tree, planned
from archive.codec.registry import Kind
from archive.codec.shred import ITEM
from archive.engine.settings import Settings


#: Chunks (one a group, normally) a column keeps its last chosen encoding for before selection
#: runs again; each selection that confirms the choice doubles this, up to RESCORE_MAX.
#: (16 rather than 8: one selection costs about ten reusing encodes; on zeek, generated data
#: and a drifting mix of both the archive bytes stayed within 0.2% of those with 8.)
RESCORE_EVERY: Final = 16
RESCORE_MAX: Final = 64


def chunk_pieces(kind: str, values: np.ndarray, settings: Settings,
                 raw_bound: int | None = None) -> list[tuple[int, int]]:
    """How a group's column is split into chunks: ``(start, stop)`` ranges of at most
    ``chunk_items`` values and about ``chunk_bytes`` of raw data (at least one value each).

    ``raw_bound``: an upper bound of the column's raw size (each value's length + 4 for
    str/bytes, 8 otherwise) when the caller knows one, which spares measuring it."""
    n, cap = len(values), settings.chunk_items
    if raw_bound is not None and n <= cap and raw_bound <= settings.chunk_bytes:
        return [(0, n)]
    if kind in ("str", "bytes"):
        items = values.tolist()
        if n <= cap and sum(map(len, items)) + 4 * n <= settings.chunk_bytes:
            return [(0, n)]  # the common case: one chunk (a list sums faster than an array)
        sizes = np.fromiter(map(len, items), dtype=np.int64, count=n) + 4
    else:
        if n <= cap and 8 * n <= settings.chunk_bytes:
            return [(0, n)]
        sizes = np.full(n, 8, dtype=np.int64)
    cum = np.cumsum(sizes)
    out, a = [], 0
    while a < n:
        base = cum[a - 1] if a else 0
        b = int(np.searchsorted(cum, base + settings.chunk_bytes, side="right"))
        b = min(max(b, a + 1), a + cap, n)
        out.append((a, b))
        a = b
    return out or [(0, 0)]


#: Per column: (codec id of its last selection, chunks encoded with it since, the choice tree
#: of the chunk encoded last (see :func:`archive.codec.plans.planned`), chunks until the
#: next selection).
Choice = tuple[int, int, Tree | None, int]


def encode_reusing(encoder: ChunkEncoder, choice: dict[Any, Choice], col: Any, kind: Kind,
                   values: np.ndarray, dict_id: int = 0, raw_below: int = 0) -> EncodedChunk:
    """Encode a chunk of column ``col``, reusing its last choices between selections:
    selection (trial-encoding every candidate, for the column and for each of its
    sub-columns) is most of the encoding time, and a column's best encodings rarely change
    from one group to the next.

    ``choice`` holds each column's last choices and is updated.  Selection runs again after
    ``RESCORE_EVERY`` chunks, and after twice as many each time it confirms the previous
    choice (at most ``RESCORE_MAX``).  The sub-column choices are recorded during selection
    (recording costs little) and replayed on the next chunks.  Where a reused encoding no
    longer applies (to the column or to a sub-column), selection runs again there.  The
    bytes depend only on the sequence of chunks given for each column (deterministic).
    ``dict_id``: compress with this dictionary of the encoder's (0: none); ``raw_below``: see
    :meth:`ChunkEncoder.encode`.
    """
    last = choice.get(col)
    if last is not None and last[1] < last[3]:
        with planned(last[2]) as made:
            try:
                enc = encoder.encode(kind, values, only=(last[0],), dict_id=dict_id,
                                     raw_below=raw_below)
            except ValueError:  # it no longer applies: choose again
                pass
            else:
                choice[col] = (last[0], last[1] + 1, made[0], last[3])
                return enc
    with planned(None) as made:  # select, recording the sub-column choices on the way
        enc = encoder.encode(kind, values, dict_id=dict_id, raw_below=raw_below)
    interval = RESCORE_EVERY
    if last is not None and last[0] == enc.codec_id:
        interval = min(2 * last[3], RESCORE_MAX)
    choice[col] = (enc.codec_id, 0, made[0] if made else None, interval)
    return enc


def parent_column(path: tuple, slot: str) -> tuple[tuple, str] | None:
    """The column whose chunk a column's chunk continues (see FORMAT.md, "parent chunk")."""
    if slot != "tag":
        return (path, "tag")
    if not path:
        return None
    return (path[:-1], "len" if path[-1] is ITEM else "shape")
