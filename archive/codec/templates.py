"""The ``template`` encoding (codec id 160) of log lines: templates and typed variables.

Each value (a log line without its newline; kind ``str`` or ``bytes``) is split by the
tokenizer of :mod:`archive.codec.logparse` into a *template* (its static text with typed
placeholders) and *variables*.  Templates are stored once, in a dictionary at the head of the
payload; each line stores a template id; each placeholder slot stores its values in a
sub-column encoded by :func:`~archive.codec.registry.encode_values` (decimal and hex numbers
as ``int`` columns, so delta / frame-of-reference / dictionary encodings apply; free text as a
``str`` / ``bytes`` column).  Decoding is byte-exact: zero padding is a placeholder width,
numbers that do not round-trip (``+5``, ``-0``, more than 64 bits) stay text.

Columns are keyed by the template text *up to and including* the placeholder: slots of the
common line header (timestamp, pid, host...) of every template form one column in line order,
so timestamps stay monotonic for the delta encodings, while slots of the message body are
per template (one column per semantic field).  A key gathering fewer than ``POOL_MIN``
values is pooled with the other small ones of its placeholder type (member after member).
Values that never change in a column are folded into the template text; a slot always equal
to an earlier slot of the same line is a back-reference; digit strings whose leading zeros
vary (``1.05`` / ``1.5``) keep their length in a second int column (typing:
:mod:`archive.codec.template_slots`).  The decoder recomputes the column layout from the
templates and the id column (:mod:`archive.codec.template_layout`), so no layout is stored.  Templates
are sorted (similar ones side by side compress better) and the ids index that order.

The encoding declines (returns ``None``) below :attr:`TemplateEncoding.min_rows` values, for
short values, when the first lines' skeletons are nearly all distinct or, for single words,
each one exact line mostly with placeholders (ids that digit runs split: templates would only
be a dictionary of values), or when the lines need more than ``max_template_ratio`` templates
per line; it only applies at the top level (a template's own str sub-columns are never
templated).  Measured on the 16 loghub files: 0.66x the size of ``zstd -19`` of the raw files
(tools/bench_logs.py).

Payload body (after the codec id byte), little-endian::

    u8    flags         bit 0: the values are bytes (else str, templates UTF-8 surrogatepass)
    blob  dictionary    u32 n_templates, then the templates joined by \x17 (never in a template)
    blob  template ids  int sub-column, one id per line
    u32   n_columns     must equal the number the layout derives
    n_columns x blob    the variable sub-columns, in layout order (a digit-string column
                        is two blobs: its lengths, then its values)

The dictionary is a self-contained blob that :func:`payload_templates` reads without touching
the variable columns (and that an archive-level dictionary could replace later).

Searching (``archive grep``) with templates
-------------------------------------------
A line's text is its template's static segments with its variables in between, so for a
literal pattern ``L`` a grep first scans the (small) dictionary (:func:`payload_templates`,
:func:`~archive.codec.template_text.split_template`):

1. templates whose static text contains ``L`` match on every one of their lines: no variable
   column needs decoding to know that (only to print them);
2. a template can match elsewhere only if ``L`` overlaps a placeholder: ``L`` must then be
   consistent with the static text around that placeholder (its part left of the variable a
   suffix of the static segment before it, its part right of it a prefix of the segment
   after) and its part inside the variable must be producible by the placeholder type --
   digits (and ``-``) for ``<int>``, hex digits for ``<hex>``, anything for ``<*>``
   (``split_template`` names them; a back-reference is named after its target);
3. a literal without any digit cannot fall inside an ``<int>`` value, one with a non-hex
   letter not inside a ``<hex>``: such columns are skipped, only ``<*>`` columns and the
   templates of step 2 are decoded, and only their candidate lines re-checked with the full
   pattern.

So a literal that occurs in no template and can be produced by no variable column rules out
the whole chunk without decoding it, and when it occurs only in static text, the id column
alone says which lines match.
"""
from __future__ import annotations

from functools import lru_cache
from operator import attrgetter
from typing import Final

import numpy as np

from archive.codec.framing import Reader, Writer
from archive.codec.ints import encode_int_sub
from archive.codec.lazy import Column
from archive.codec.logmerge import merge
from archive.codec.logparse import (
    MAX_DIGITS,
    PH_DSTR,
    PH_HEX,
    PH_HEXU,
    PH_INT,
    PH_REF,
    PH_STR,
    Ops,
    mine,
    ops_for,
)
from archive.codec.registry import (
    Encoding,
    Kind,
    decode_values,
    decode_values_lazy,
    encode_values,
    register,
)
from archive.codec.plans import given_encoding, unplanned
from archive.codec.template_column import Form, Source, TemplateColumn, TemplateLines
from archive.codec.template_layout import (
    FLAG_BYTES,
    column_layout,
    parse_all,
    read_dictionary,
    read_layout,
)
from archive.codec.template_slots import finalize
from archive.codec.template_text import parsed_template
from archive.errors import CorruptChunkError

__all__ = ["TEMPLATE", "TemplateEncoding", "payload_templates"]

TEMPLATE: Final = 160
#: Upper bound on the static text a payload may expand to (decompression-bomb guard).
MAX_STATIC_OUTPUT: Final = 1 << 31
#: Dictionary order: sorted templates compress better (similar ones are neighbours).
SORT_TEMPLATES: Final = True


def _directive(ops: Ops, typ: str, p: int):
    """The ``%`` directive that prints a value of a placeholder ``(typ, p)``."""
    if typ == PH_STR:
        return ops.c("%s")
    if typ == PH_DSTR:
        return ops.c("%0*d")
    letter = {PH_INT: "d", PH_HEX: "x", PH_HEXU: "X"}[typ]
    return ops.c(f"%0{p}{letter}" if p > 1 else f"%{letter}")


@lru_cache(maxsize=1 << 14)
def template_format(t: str | bytes, kind: Kind) -> tuple[str | bytes, tuple[int, ...] | None]:
    """The ``%``-format of the lines of template ``t`` (which must parse) and, per argument
    group, the slot whose column holds its values (a back-reference names its target); the
    template itself and ``None`` when it has no placeholder.  Memoised: a chunk's decode
    builds it for each template it renders."""
    ops = ops_for(kind)
    statics, phs, _ = parsed_template(t)
    if not phs:
        return statics[0], None
    pct, pct2 = ops.pct, ops.pct2
    fmt_parts = []
    slots = []
    for j, (typ, p) in enumerate(phs):
        fmt_parts.append(statics[j].replace(pct, pct2))
        src = j
        if typ == PH_REF:
            src = p
            typ, p = phs[src]
        slots.append(src)
        fmt_parts.append(_directive(ops, typ, p))
    fmt_parts.append(statics[-1].replace(pct, pct2))
    return ops.empty.join(fmt_parts), tuple(slots)


@register
class TemplateEncoding(Encoding):
    """Log lines as template ids plus typed variable columns (see the module docstring)."""

    codec_id = TEMPLATE
    name = "template"
    kinds = frozenset({"str", "bytes"})
    yields = True  # costly, and never smaller on a column a typed string encoding settles
    replays = True  # the template ids' sub-column (the variable columns are unplanned)

    #: Decline columns shorter than this, or whose templates are not repeated enough.
    min_rows: int = 8
    #: Values shorter than this on average are not log lines (the dictionary encodings win).
    min_avg_len: float = 8.0
    #: Lines looked at first: too many distinct skeletons among them declines at once.
    probe_rows: int = 256
    probe_max_ratio: float = 0.8
    #: Only a top-level column is templated (a template's own str sub-columns never are).
    max_depth: int = 1
    max_template_ratio: float = 0.5

    def encode(self, values: np.ndarray, kind: Kind, depth: int) -> bytes | None:
        n = len(values)
        if n < self.min_rows or depth >= self.max_depth:
            return None
        ops = ops_for(kind)
        head = values[: self.probe_rows]
        if sum(map(len, head)) < self.min_avg_len * len(head):
            return None
        if n > 2 * self.probe_rows and not given_encoding() and not self._probe(head, ops):
            return None  # a cheap look at the head spares non-log columns the full work
        groups = merge(mine(values, ops), ops)
        if len(groups) > self.max_template_ratio * n:
            return None
        items = finalize(groups, ops)
        if SORT_TEMPLATES:
            items.sort(key=lambda it: it[0])
        templates = [it[0] for it in items]
        tids = np.zeros(n, dtype=np.int64)
        for tid, it in enumerate(items):
            tids[it[1]] = tid
        layout = column_layout(templates, parse_all(templates), [len(it[1]) for it in items])
        w = Writer()
        w.u8(FLAG_BYTES if ops.is_bytes else 0)
        d = Writer()
        d.u32(len(templates))
        d.raw(ops.to_bytes(ops.dict_sep.join(templates)))
        w.blob(d.getvalue())
        w.blob(encode_int_sub(tids, depth))
        w.u32(len(layout))
        with unplanned():  # which variable columns there are depends on the lines
            self._write_columns(w, items, layout, kind, depth)
        return w.getvalue()

    @staticmethod
    def _write_columns(w: Writer, items: list, layout: list, kind: Kind, depth: int) -> None:
        """The variable sub-columns of ``items`` (what :func:`finalize` made), in ``layout``
        order."""
        for pooled, mem in layout:
            typ = items[mem[0][0]][2][mem[0][1]][0]
            if len(mem) == 1:
                vals = items[mem[0][0]][2][mem[0][1]][2]
            else:
                vals = np.concatenate([items[t][2][j][2] for t, j in mem], axis=-1)
                if not pooled:
                    rows = np.concatenate([items[t][1] for t, _ in mem])
                    vals = vals[..., np.argsort(rows, kind="stable")]
            if typ == PH_DSTR:
                w.blob(encode_int_sub(vals[0], depth))
                w.blob(encode_int_sub(vals[1], depth))
            else:
                w.blob(encode_values(kind, vals, depth + 1) if typ == PH_STR
                       else encode_int_sub(vals, depth))

    def _probe(self, head: np.ndarray, ops: Ops) -> bool:
        """Whether the head's lines look templatable.  No when too many of them have skeletons
        of their own, or when they are single words (no whitespace) and every skeleton stands
        for one exact line although most hold placeholders (ids such as
        ``C7D3jh48xct8IuPkqc``, where digit runs split random words): such templates only
        fold back into a dictionary of whole values, larger than str-dict's, and cost the most
        to build (one template per distinct value)."""
        groups = mine(head, ops)
        if len(groups) > self.probe_max_ratio * len(head):
            return False
        lines = head.tolist()
        return not (len(groups) == len(set(lines))
                    and 2 * sum(1 for g in groups if g.slots) > len(groups)
                    and len(ops.ws_split(ops.empty.join(lines), 1)) == 1)

    def decode(self, r: Reader, count: int, kind: Kind, depth: int) -> np.ndarray:
        return self.decode_lazy(r, count, kind, depth).materialize()

    def decode_lazy(self, r: Reader, count: int, kind: Kind, depth: int) -> TemplateColumn:
        """Every part read and checked (template ids, layout, every variable column decoded
        and bounds-checked, the size the lines expand to); the variable columns stay arrays
        (lazy columns for text) and lines are built only for the rows read (TemplateColumn)."""
        templates, parsed, tids, counts, layout = read_layout(r, kind, count, depth)
        static_lens = np.fromiter(map(attrgetter("static_len"), parsed), dtype=np.float64,
                                  count=len(parsed))  # float: no overflow on hostile counts
        static = float(counts @ static_lens)
        if static > MAX_STATIC_OUTPUT:
            raise CorruptChunkError(f"templates expand to {static:.0f} bytes of text")
        ncounts = counts.tolist()
        columns: list[list[Column]] = []
        where: dict[tuple[int, int], tuple[int, int | None]] = {}
        for pooled, mem in layout:
            t0, j0 = mem[0]
            typ = parsed[t0].phs[j0][0]
            size = sum(ncounts[t] for t, _ in mem)
            if typ == PH_DSTR:
                lens = decode_values("int", r.blob(), size, depth + 1)
                if size and (int(lens.min()) < 1 or int(lens.max()) > MAX_DIGITS):
                    raise CorruptChunkError(f"digit string length outside 1..{MAX_DIGITS}")
                cols: list[Column] = [lens, decode_values("int", r.blob(), size, depth + 1)]
            elif typ == PH_STR:
                cols = [decode_values_lazy(kind, r.blob(), size, depth + 1)]
            else:
                col = decode_values("int", r.blob(), size, depth + 1)
                cols = [col.view(np.uint64) if typ in (PH_HEX, PH_HEXU) else col]
            ci = len(columns)
            columns.append(cols)
            if len(mem) == 1 or pooled:  # member after member
                off = 0
                for t, j in mem:
                    where[t, j] = (ci, off)
                    off += ncounts[t]
            else:  # members interleaved in line order
                for t, j in mem:
                    where[t, j] = (ci, None)
        ranks: dict[int, np.ndarray] = {}  # interleaved column -> each line's rank in it
        lines_of = TemplateLines(tids, ncounts)

        def source(t: int, j: int) -> Source:
            ci, off = where[t, j]
            if off is not None:
                return ci, off
            rank = ranks.get(ci)
            if rank is None:  # the index of each member line in the column (lines in order)
                mem = np.array([m for m, _ in layout[ci][1]], dtype=np.int64)
                rank = ranks[ci] = np.cumsum(np.isin(tids, mem)) - 1
            return ci, rank[lines_of(t)]

        def form(tid: int) -> Form:  # built when a line of the template is first rendered
            fmt, slots = template_format(templates[tid], kind)
            return fmt, None if slots is None else [source(tid, j) for j in slots]

        return TemplateColumn(tids, counts, columns, form)


def payload_templates(payload: bytes | memoryview) -> list[str | bytes]:
    """The template dictionary of a template payload (codec id byte + body), nothing decoded.

    Templates are ``str`` for a str column and ``bytes`` for a bytes column; see
    :func:`~archive.codec.template_text.render_template` and
    :func:`~archive.codec.template_text.split_template`.  Raises CorruptChunkError when the
    payload is not a well-formed template payload.
    """
    r = Reader(payload)
    cid = r.u8()
    if cid != TEMPLATE:
        raise CorruptChunkError(f"payload of encoding {cid} is not a template payload")
    flags = r.u8()
    if flags not in (0, FLAG_BYTES):
        raise CorruptChunkError(f"template payload flags {flags:#x}")
    templates = read_dictionary(r.blob(), ops_for("bytes" if flags else "str"))
    parse_all(templates)
    return templates
