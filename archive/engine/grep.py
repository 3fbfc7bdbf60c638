"""Skipping groups by their template dictionaries (``archive grep``, ``where`` on log lines).

A column of log lines is usually stored with the ``template`` encoding (codec id 160,
:mod:`archive.codec.templates`): a small dictionary of templates -- static text with typed
placeholders -- heads each chunk's payload.  Every line is its template's static text with
variables in between, so a literal ``L`` can occur in a line only if

* ``L`` occurs in the static text of the line's template, or
* ``L`` overlaps placeholders, and every character of ``L`` that falls inside a variable can
  be produced by that placeholder: ``-`` and digits for ``<int>``, hex digits for ``<hex>``,
  anything for ``<*>`` (a numeric variable is never empty; a ``<*>`` one may be).

:func:`template_may_contain` decides this exactly for one template with a bit-parallel
(shift-and) matcher running over the template: a numeric placeholder is a loop over its
character class, a ``<*>`` one either "anything" or, when its values are given, one of
them.  :func:`may_match_templates` applies it to a scan: for each string predicate of the
``where`` expression in an AND position -- ``contains "L"``, ``startswith "L"``, ``matches``
with a regex whose literal runs are required (``error``, ``(?i)error``, ``^GET /a``,
``error|fail``: every top-level run must occur, one branch's runs for an alternation) -- it
reads the dictionaries of the path's str (bytes) chunks of the group (decompressing only
the payload's head up to the end of the dictionary; no variable column is touched) and
rules the group out when no template can produce the literals.  When the only templates
left are ones with ``<*>`` placeholders, the chunk's template ids and free-text columns
(not the numeric ones, and no line is assembled) are decoded and those templates judged
again with the actual values (:func:`free_values`).  ``or`` needs every branch ruled out;
``not`` and the other predicates never rule anything out.

The check is conservative: a group is kept whenever something is not known -- a chunk of
another encoding, a dictionary that does not read, list values at the path (``contains`` is
then also element membership), a regex whose required text cannot be extracted -- and the
scan evaluates the full expression on the groups kept, so only the skipping is decided here.
Only committed and flushed groups are judged (the writer's pending group has no chunks), and
the caller applies it only when no row of the group is redirected (like the statistics).
"""
from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any

import zstandard

from archive.codec.chunk import HEADER_SIZE, chunk_payload, read_header
from archive.codec.framing import Reader
from archive.codec.logparse import PH_DSTR, PH_STR
from archive.codec.registry import Kind, decode_values
from archive.codec.template_layout import read_head, read_layout
from archive.codec.templates import TEMPLATE
from archive.engine.grep_match import (
    FreeValues, Need, _alt_may, _split, plan, regex_requirements, template_may_contain,
)
from archive.query.expr import Expr

if TYPE_CHECKING:
    from archive.engine.archive import Archive

__all__ = ["FreeValues", "Need", "chunk_templates", "free_values", "may_match_templates", "plan",
           "regex_requirements", "template_may_contain"]


# --------------------------------------------------------------------------- chunks
def chunk_templates(view: Any, ref: Any) -> list | None:
    """The template dictionary of one template chunk, reading only the payload's head.

    The checksum of the stored body is verified; None when anything is off (the group is
    then kept and the real decode reports the problem).
    """
    try:
        buf = view.chunk(ref)
        h = read_header(buf)
        mv = memoryview(buf)
        if len(mv) != h.total_len or h.count != int(ref["count"]):
            return None
        body = mv[HEADER_SIZE:]
        if zlib.crc32(body) != h.crc32:
            return None
        if h.compressed:
            dctx = view.dicts.decompressor(h.dict_id) if h.dict_id else zstandard.ZstdDecompressor()
            with dctx.stream_reader(body) as zr:
                head = _read_exact(zr, 6)
                if head is None or head[0] != TEMPLATE:
                    return None
                size = int.from_bytes(head[2:6], "little")  # the dictionary blob's length
                if 6 + size > h.raw_len:
                    return None
                rest = _read_exact(zr, size)
                if rest is None:
                    return None
                payload: Any = head + rest
        else:
            payload = body
        r = Reader(payload)
        if r.u8() != TEMPLATE:
            return None
        # the dictionary alone (payload_templates would also parse every template: _split
        # does that once per distinct template, and None from it keeps the group)
        return read_head(r, h.kind)
    except Exception:  # noqa: BLE001 - a chunk that does not read keeps its group
        return None


def _read_exact(r: Any, n: int) -> bytes | None:
    out = b""
    while len(out) < n:
        got = r.read(n - len(out))
        if not got:
            return None
        out += got
    return out


def may_match_templates(ar: Archive, g: int, expr: Expr | None) -> bool:
    """False only when no record of group ``g`` can match ``expr``, judged from the
    template dictionaries of its chunks (see the module docstring); True when unsure."""
    if expr is None:
        return True
    p = plan(expr)
    if p is None:
        return True
    view = ar._view
    if not 0 <= g < len(view.group_first):
        return True  # the writer's pending group: no chunks yet
    return _judge(ar, g, p, {})


def _judge(ar: Archive, g: int, p: Any, chunks: dict) -> bool:
    if not isinstance(p, Need):
        op, subs = p
        if op == "and":
            return all(_judge(ar, g, s, chunks) for s in subs)
        return any(_judge(ar, g, s, chunks) for s in subs)
    from archive.engine.scan import group_stats
    st = group_stats(ar, g, int(ar._view.group_rows[g]), p.path)
    if st is None:
        if p.no_lists:
            return True
    elif p.no_lists and "list" in st.kinds:
        return True
    elif p.kind not in st.kinds:
        return False  # no str (bytes) value here at all: the statistics said it already,
        #               but an ``or`` of a str and a bytes test needs both answers at once
    key = (p.path, p.kind)
    if key not in chunks:
        chunks[key] = _group_chunks(ar, g, p.path, p.kind)
    found = chunks[key]
    if found is None:
        return True
    for ref_templates in found:
        if _chunk_may(ref_templates, p):
            return True
    return False


class _Chunk:
    """One template chunk of a group: its templates, and its free-text values when needed."""

    def __init__(self, view: Any, ref: Any, templates: list) -> None:
        self.view, self.ref, self.templates = view, ref, templates
        self._free: Any = False

    def free(self) -> dict[int, dict[int, FreeValues]] | None:
        if self._free is False:
            self._free = free_values(self.view, self.ref)
        return self._free


def _chunk_may(c: _Chunk, need: Need) -> bool:
    pending = []
    for tid, t in enumerate(c.templates):
        for alt in need.alts:
            if _alt_may(t, alt, need.flags):
                sp = _split(t)
                if sp is None or "*" not in sp[1]:
                    return True
                pending.append((tid, t, alt))
    if not pending:
        return False
    free = c.free()  # only templates with free text are left: look at its actual values
    if free is None:
        return True
    return any(_alt_may(t, alt, need.flags, free.get(tid, {})) for tid, t, alt in pending)


def free_values(view: Any, ref: Any) -> dict[int, dict[int, FreeValues]] | None:
    """``{template id: {slot: values}}`` of the ``<*>`` slots of one template chunk.

    The payload is decompressed and only the template ids and the free-text columns are
    decoded.  A column pooling several slots gives each of them all its values (a superset:
    enough to rule a template out).  None when anything is off.
    """
    try:
        buf = view.chunk(ref)
        h = read_header(buf)
        if h.count != int(ref["count"]) or h.kind not in ("str", "bytes"):
            return None
        return _free_values(chunk_payload(buf, h, view.dicts), h.kind, h.count)
    except Exception:  # noqa: BLE001 - a chunk that does not read keeps its group
        return None


def _free_values(payload: Any, kind: Kind, count: int) -> dict[int, dict[int, FreeValues]] | None:
    """:func:`free_values` of a chunk's payload: None, or CorruptChunkError raised, when it
    is not a well-formed template payload."""
    r = Reader(payload)
    if r.u8() != TEMPLATE:
        return None
    _, parsed, _, counts, layout = read_layout(r, kind, count, 0)
    out: dict[int, dict[int, FreeValues]] = {}
    for _pooled, mem in layout:
        t0, j0 = mem[0]
        typ = parsed[t0].phs[j0][0]
        if typ == PH_DSTR:
            r.blob()
        blob = r.blob()
        if typ != PH_STR:
            continue
        size = sum(int(counts[t]) for t, _ in mem)
        vals = FreeValues(decode_values(kind, blob, size, 1).tolist())
        for t, j in mem:
            out.setdefault(t, {})[j] = vals
    return out if not r.remaining else None


def _group_chunks(ar: Archive, g: int, path: tuple, kind: str) -> list[_Chunk] | None:
    """The group's chunks of ``(path, kind)`` with their templates; None unless all of them
    are template chunks that read."""
    view = ar._view
    col = view.col_ids.get((tuple(path), kind))
    if col is None:
        return None
    refs = view.group_refs[g]
    mine = refs[refs["col"] == col]
    if not len(mine) or not (mine["enc"] == TEMPLATE).all():
        return None
    out = []
    for ref in mine:
        ts = chunk_templates(view, ref)
        if ts is None:
            return None
        out.append(_Chunk(view, ref, ts))
    return out
