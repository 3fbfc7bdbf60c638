"""The parts of a ``template`` payload that its decoder and ``archive grep`` both read.

See :mod:`archive.codec.templates` for the payload: the flags byte and the dictionary blob
(:func:`read_head`), the template ids and the column count (:func:`read_layout`), then the
variable columns, whose order :func:`column_layout` derives from the templates and their line
counts alone (no layout is stored).
"""
from __future__ import annotations

from functools import lru_cache
from itertools import count as counter
from typing import Final, NamedTuple

import numpy as np

from archive.codec.framing import Reader
from archive.codec.int_checks import below
from archive.codec.logparse import PH_REF, Ops, ops_for
from archive.codec.registry import Kind, decode_values
from archive.codec.template_text import ParsedTemplate, parsed_template
from archive.errors import CorruptChunkError

__all__ = ["FLAG_BYTES", "POOL_MIN", "Layout", "column_layout", "parse_all", "read_dictionary",
           "read_head", "read_layout", "slot_keys"]

#: Flags bit 0: the values are bytes (else str).
FLAG_BYTES: Final = 1
#: A column key gathering fewer values than this is pooled with the same placeholder type.
POOL_MIN: Final = 16


def read_dictionary(buf, ops: Ops) -> list:
    """Templates of a dictionary blob: u32 count, then the templates joined by ``\\x17``.

    Raises CorruptChunkError when the blob does not hold that many templates (or, for str
    templates, is not UTF-8); the templates themselves are not parsed.
    """
    r = Reader(buf)
    n = r.u32()
    try:
        text = ops.from_bytes(bytes(r.raw(r.remaining)))
    except UnicodeDecodeError:
        raise CorruptChunkError("template dictionary is not UTF-8") from None
    out = text.split(ops.dict_sep) if n else []
    if len(out) != n or (not n and text):
        raise CorruptChunkError(f"template dictionary claims {n} templates, holds {len(out)}")
    return out


def read_head(r: Reader, kind: Kind) -> list:
    """The flags byte and the dictionary of a payload of a ``kind`` column, read from ``r``
    (just past the codec id); raises CorruptChunkError when the flags do not fit ``kind``."""
    ops = ops_for(kind)
    flags = r.u8()
    if flags != (FLAG_BYTES if ops.is_bytes else 0):
        raise CorruptChunkError(f"template payload flags {flags:#x} do not fit kind {kind}")
    return read_dictionary(r.blob(), ops)


class Layout(NamedTuple):
    """A payload read up to its variable columns (see :func:`read_layout`)."""

    templates: list
    parsed: list[ParsedTemplate]
    tids: np.ndarray  # int64, the template id of each line
    counts: np.ndarray  # int64, the number of lines of each template
    columns: list[tuple[bool, list[tuple[int, int]]]]  # column_layout's


def read_layout(r: Reader, kind: Kind, count: int, depth: int) -> Layout:
    """Everything before the variable columns of the payload (at ``depth``) of ``count``
    values of ``kind``, read from ``r`` just past the codec id: the dictionary, its templates
    parsed, the template ids and the layout, whose column count the payload must repeat.
    CorruptChunkError when any of it does not hold."""
    templates = read_head(r, kind)
    parsed = parse_all(templates)
    tids = decode_values("int", r.blob(), count, depth + 1)
    nt = len(templates)
    if not below(tids, nt):
        raise CorruptChunkError(f"template id outside 0..{nt - 1}")
    counts = np.bincount(tids, minlength=nt) if count else np.zeros(nt, dtype=np.int64)
    columns = column_layout(templates, parsed, counts.tolist())
    ncols = r.u32()
    if ncols != len(columns):
        raise CorruptChunkError(f"{ncols} variable columns, the templates need {len(columns)}")
    return Layout(templates, parsed, tids, counts, columns)


def parse_all(templates: list) -> list[ParsedTemplate]:
    """Every template parsed (memoised); CorruptChunkError when one is malformed."""
    try:
        return [parsed_template(t) for t in templates]
    except ValueError as e:
        raise CorruptChunkError(f"template: {e}") from None


@lru_cache(maxsize=1 << 14)
def slot_keys(t: str | bytes) -> tuple[tuple[int, str | bytes], ...]:
    """``(slot, key)`` of each placeholder of template ``t`` that is not a back-reference:
    the key is the template's text up to and including the placeholder (memoised, like
    :func:`~archive.codec.template_text.parsed_template`; ``t`` must parse)."""
    p = parsed_template(t)
    off = 0
    out = []
    for j, (typ, _) in enumerate(p.phs):
        off += len(p.statics[j]) + 2
        if typ != PH_REF:
            out.append((j, t[:off]))
    return tuple(out)


def column_layout(templates: list, parsed: list[ParsedTemplate],
                  counts: list[int]) -> list[tuple[bool, list[tuple[int, int]]]]:
    """Column layout derived from the templates (``parsed``: see :func:`parse_all`) and their
    line counts alone.

    Returns ``[(pooled, [(tid, slot), ...])]``: a slot's column is keyed by its template's text
    up to and including the placeholder when that key gathers at least :data:`POOL_MIN` values
    (values in line order); otherwise by the placeholder alone, pooling the slots of rare
    templates (values member after member).
    """
    live = [(tid, slot_keys(t), c) for tid, t, p, c in zip(counter(), templates, parsed, counts)
            if p.phs]  # most templates of a chunk often have no placeholder
    size: dict = {}
    for _, ks, c in live:
        for _, key in ks:
            size[key] = size.get(key, 0) + c
    cols: dict = {}
    out: list[tuple[bool, list[tuple[int, int]]]] = []
    for tid, ks, _ in live:
        for j, key in ks:
            pooled = size[key] < POOL_MIN
            ck = (key[-2:],) if pooled else key  # pooled: by the placeholder alone
            col = cols.get(ck)
            if col is None:
                col = cols[ck] = len(out)
                out.append((pooled, []))
            out[col][1].append((tid, j))
    return out
