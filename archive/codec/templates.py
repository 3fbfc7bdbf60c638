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
per template (one column per semantic field).  A key gathering fewer than :data:`POOL_MIN`
values is pooled with the other small ones of its placeholder type (member after member).
Values that never change in a column are folded into the template text; a slot always equal
to an earlier slot of the same line is a back-reference; digit strings whose leading zeros
vary (``1.05`` / ``1.5``) keep their length in a second int column.  The decoder recomputes
the column layout from the templates and the id column, so no layout is stored.  Templates
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
:func:`split_template`):

1. templates whose static text contains ``L`` match on every one of their lines: no variable
   column needs decoding to know that (only to print them);
2. a template can match elsewhere only if ``L`` overlaps a placeholder: ``L`` must then be
   consistent with the static text around that placeholder (its part left of the variable a
   suffix of the static segment before it, its part right of it a prefix of the segment
   after) and its part inside the variable must be producible by the placeholder type --
   digits (and ``-``) for ``<int>``, hex digits for ``<hex>``, anything for ``<*>``
   (:func:`split_template` names them; a back-reference is named after its target);
3. a literal without any digit cannot fall inside an ``<int>`` value, one with a non-hex
   letter not inside a ``<hex>``: such columns are skipped, only ``<*>`` columns and the
   templates of step 2 are decoded, and only their candidate lines re-checked with the full
   pattern.

So a literal that occurs in no template and can be produced by no variable column rules out
the whole chunk without decoding it, and when it occurs only in static text, the id column
alone says which lines match.
"""
from __future__ import annotations

from itertools import accumulate, chain, repeat
from functools import lru_cache
from typing import Final

import numpy as np

from archive.codec.framing import Reader, Writer
from archive.codec.ints import below
from archive.codec.logparse import (
    MAX_REF,
    MAX_WIDTH,
    PARAM_BASE,
    PH_DSTR,
    PH_HEX,
    PH_HEXU,
    PH_INT,
    PH_REF,
    PH_STR,
    Group,
    Ops,
    merge,
    mine,
    ops_for,
    parse_template,
    render_template,
)
from archive.codec.registry import (
    Encoding,
    Kind,
    decode_values,
    encode_values,
    register,
)
from archive.codec.template_column import Form, TemplateColumn
from archive.errors import CorruptChunkError

__all__ = [
    "TEMPLATE",
    "TemplateEncoding",
    "payload_templates",
    "render_template",
    "split_template",
]

TEMPLATE: Final = 160
_FLAG_BYTES: Final = 1
#: Upper bound on the static text a payload may expand to (decompression-bomb guard).
MAX_STATIC_OUTPUT: Final = 1 << 31
MAX_DIGITS: Final = 18
#: A column key gathering fewer values than this is pooled with the same placeholder type.
POOL_MIN: Final = 16
#: Dictionary order: sorted templates compress better (similar ones are neighbours).
SORT_TEMPLATES: Final = True


def _param(ops: Ops, typ: str, p: int):
    return ops.c(typ + chr(PARAM_BASE + p))


def _directive(ops: Ops, typ: str, p: int):
    if typ == PH_STR:
        return ops.c("%s")
    if typ == PH_DSTR:
        return ops.c("%0*d")
    letter = {PH_INT: "d", PH_HEX: "x", PH_HEXU: "X"}[typ]
    return ops.c(f"%0{p}{letter}" if p > 1 else f"%{letter}")


# --------------------------------------------------------------------------- typing


_P10: Final = np.array([10**k for k in range(1, 20)], dtype=np.uint64)
_P16: Final = np.array([16**k for k in range(1, 16)], dtype=np.uint64)


def _try_numeric(raw: list, ops: Ops, base: int):
    """``(type, width, int64 array)`` when ``raw`` are numbers of one zero-padded width.

    Every check is vectorized: a token round-trips through ``%0{w}d`` / ``%0{w}x`` exactly
    when it has only digits (and a leading ``-``), and its length is the canonical length of
    its value or, if shorter than ``w``, ``w`` -- except ``-0``, which has no signed form.
    """
    joined = ops.empty.join(raw)
    if not (ops.dec_only if base == 10 else ops.hex_only)(joined):
        return None
    try:
        if base == 10:
            arr = np.array(list(map(int, raw)), dtype=np.int64)
        else:
            arr = np.array(list(map(int, raw, repeat(16, len(raw)))), dtype=np.uint64)
    except (ValueError, OverflowError):
        return None
    if base == 10:
        neg = arr < 0
        mag = np.where(neg, (-(arr + 1)).astype(np.uint64) + np.uint64(1), arr.astype(np.uint64))
        canon = np.searchsorted(_P10, mag, side="right") + 1 + neg
        typ = PH_INT
    else:
        canon = np.searchsorted(_P16, arr, side="right") + 1
        if joined.lower() == joined:
            typ = PH_HEX
        elif joined.upper() == joined:
            typ = PH_HEXU
        else:
            return None
    lengths = np.fromiter(map(len, raw), dtype=np.int64, count=len(raw))
    width = 1
    odd = lengths != canon
    if odd.any():
        pads = lengths[odd]
        width = int(pads[0])
        if width > MAX_WIDTH or not (pads == width).all():
            return None
        if not (lengths == np.maximum(canon, width)).all():
            return None
    if base == 10:
        for k in np.flatnonzero((arr == 0) & (lengths > 1)).tolist():
            if raw[k][:1] == ops.minus:
                return None
    return typ, width, arr.view(np.int64)


def _try_digits(raw: list, ops: Ops):
    """``(PH_DSTR, 0, 2 x n int64 array of lengths and values)`` for digit strings."""
    lengths = np.fromiter(map(len, raw), dtype=np.int64, count=len(raw))
    if not ops.digits_only(ops.empty.join(raw)) or lengths.min() < 1 or lengths.max() > MAX_DIGITS:
        return None
    return PH_DSTR, 0, np.stack([lengths, np.array(list(map(int, raw)), dtype=np.int64)])


def _type_column(lists: list[list], untyped: bool, ops: Ops):
    """Decide how one analysis column is stored: ('const', v) or (type, width, arrays)."""
    first = lists[0][0]
    if all(raw.count(first) == len(raw) for raw in lists) and not ops.reserved(first):
        return ("const", first)
    flat = lists[0] if len(lists) == 1 else list(chain.from_iterable(lists))
    got = None
    if untyped:
        got = _try_numeric(flat, ops, 10) or _try_numeric(flat, ops, 16) or _try_digits(flat, ops)
    if got is None:
        arr = np.empty(len(flat), dtype=object)
        arr[:] = flat
        got = (PH_STR, 0, arr)
    typ, width, arr = got
    if len(lists) == 1:
        return typ, width, [arr]
    ends = list(accumulate(map(len, lists)))
    return typ, width, [arr[..., e - len(raw) : e] for e, raw in zip(ends, lists)]


# --------------------------------------------------------------------------- encoder


def _placeholder_positions(skel, ops: Ops) -> list[int]:
    """Indices of the one-character placeholders of a mined skeleton."""
    return [m.start() for m in ops.slot_iter(skel)]


def _finalize(groups: list[Group], ops: Ops):
    """Type, fold and back-reference the slots; returns [(template, rows, [(type,w,values)])]."""
    # analysis columns: key = skeleton up to and including the placeholder
    positions = [_placeholder_positions(g.skeleton, ops) for g in groups]
    analysis: dict = {}
    for gi, (g, pos) in enumerate(zip(groups, positions)):
        for j, p in enumerate(pos):
            analysis.setdefault(g.skeleton[: p + 1], []).append((gi, j))
    decided: list[list] = [[None] * len(pos) for pos in positions]
    ph_var = ops.ph_var
    for key, members in analysis.items():
        if len(members) == 1:
            gi, j = members[0]
            raw = groups[gi].slots[j]
            if len(raw) == 1 and not ops.reserved(raw[0]):  # one line: template text
                decided[gi][j] = ("const", raw[0])
                continue
        res = _type_column([groups[gi].slots[j] for gi, j in members], key[-1:] == ph_var, ops)
        if res[0] == "const":
            for gi, j in members:
                decided[gi][j] = res
        else:
            typ, width, arrays = res
            for (gi, j), a in zip(members, arrays):
                decided[gi][j] = (typ, width, a)
    out = []
    params: dict = {}
    for gi, (g, pos) in enumerate(zip(groups, positions)):
        pieces = []
        start = 0
        slots = []       # (type, width, values) of the final slots
        by_first: dict = {}  # first value -> final slots (not refs) starting with it
        skel = g.skeleton
        for j, p in enumerate(pos):
            pieces.append(skel[start:p])
            start = p + 1
            d = decided[gi][j]
            if d[0] == "const":
                pieces.append(d[1])
                continue
            raw = g.slots[j]
            ref = None
            for k in by_first.get(raw[0], ()):
                if g.slots[k[1]] == raw:
                    ref = k[0]
                    break
            if ref is not None:
                d = (PH_REF, ref, None)
            elif len(slots) < MAX_REF:
                by_first.setdefault(raw[0], []).append((len(slots), j))
            key = d[:2]
            ph = params.get(key)
            if ph is None:
                ph = params[key] = _param(ops, d[0], d[1])
            pieces.append(ph)
            slots.append(d)
        pieces.append(skel[start:])
        out.append((ops.empty.join(pieces), g.rows, slots))
    return _dedup(out)


def _dedup(items: list) -> list:
    """Join items whose final templates coincide (folding can make two skeletons equal)."""
    by_t: dict = {}
    for it in items:
        by_t.setdefault(it[0], []).append(it)
    if len(by_t) == len(items):
        return items
    res = []
    for t, its in by_t.items():
        if len(its) == 1:
            res.append(its[0])
            continue
        rows = np.concatenate([it[1] for it in its])
        order = np.argsort(rows, kind="stable")
        slots = []
        for j, (typ, w, _) in enumerate(its[0][2]):
            if typ == PH_REF:
                slots.append((typ, w, None))
            else:
                vals = np.concatenate([it[2][j][2] for it in its], axis=-1)
                slots.append((typ, w, vals[..., order]))
        res.append((t, rows[order], slots))
    res.sort(key=lambda it: int(it[1][0]))
    return res


@lru_cache(maxsize=4096)
def _parsed(t: str | bytes, is_bytes: bool) -> tuple[tuple, tuple, int]:
    """A decoded template's statics, placeholders and static text length; ValueError when
    malformed.  Memoised (a pure function of the text): a log's templates recur chunk after
    chunk, and parsing them all is most of what decoding a template chunk costs."""
    statics, phs = parse_template(t, ops_for("bytes" if is_bytes else "str"))
    return tuple(statics), tuple(phs), sum(map(len, statics))


def _parse_all(templates: list, ops: Ops) -> list:
    return [parse_template(t, ops) for t in templates]


def _layout(templates: list, parsed: list, counts: list[int]):
    """Column layout derived from the templates and their line counts alone.

    Returns ``[(pooled, [(tid, slot), ...])]``: a slot's column is keyed by its template's text
    up to and including the placeholder when that key gathers at least :data:`POOL_MIN` values
    (values in line order); otherwise by the placeholder alone, pooling the slots of rare
    templates (values member after member).
    """
    keys = []
    size: dict = {}
    for tid, (t, (statics, phs)) in enumerate(zip(templates, parsed)):
        off = 0
        c = counts[tid]
        for j, (typ, _) in enumerate(phs):
            off += len(statics[j]) + 2
            if typ == PH_REF:
                continue
            key = t[:off]
            size[key] = size.get(key, 0) + c
            keys.append((tid, j, key))
    cols: dict = {}
    out: list[tuple[bool, list[tuple[int, int]]]] = []
    for tid, j, key in keys:
        pooled = size[key] < POOL_MIN
        if pooled:
            key = (key[-2:],)
        col = cols.get(key)
        if col is None:
            col = cols[key] = len(out)
            out.append((pooled, []))
        out[col][1].append((tid, j))
    return out


@register
class TemplateEncoding(Encoding):
    """Log lines as template ids plus typed variable columns (see the module docstring)."""

    codec_id = TEMPLATE
    name = "template"
    kinds = frozenset({"str", "bytes"})
    yields = True  # costly, and never smaller on a column a typed string encoding settles

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
        if n > 2 * self.probe_rows and not self._probe(head, ops):
            return None  # a cheap look at the head spares non-log columns the full work
        groups = merge(mine(values, ops), ops)
        if len(groups) > self.max_template_ratio * n:
            return None
        items = _finalize(groups, ops)
        if SORT_TEMPLATES:
            items.sort(key=lambda it: it[0])
        templates = [it[0] for it in items]
        tids = np.zeros(n, dtype=np.int64)
        for tid, it in enumerate(items):
            tids[it[1]] = tid
        parsed = _parse_all(templates, ops)
        layout = _layout(templates, parsed, [len(it[1]) for it in items])
        w = Writer()
        w.u8(_FLAG_BYTES if ops.is_bytes else 0)
        d = Writer()
        d.u32(len(templates))
        d.raw(ops.to_bytes(ops.dict_sep.join(templates)))
        w.blob(d.getvalue())
        w.blob(encode_values("int", tids, depth + 1))
        w.u32(len(layout))
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
                w.blob(encode_values("int", vals[0], depth + 1))
                w.blob(encode_values("int", vals[1], depth + 1))
            else:
                w.blob(encode_values(kind if typ == PH_STR else "int", vals, depth + 1))
        return w.getvalue()

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
        """Every part read and checked; lines are built for the rows read (TemplateColumn)."""
        ops = ops_for(kind)
        flags = r.u8()
        if flags != (_FLAG_BYTES if ops.is_bytes else 0):
            raise CorruptChunkError(f"template payload flags {flags:#x} do not fit kind {kind}")
        templates = _read_dictionary(r.blob(), ops)
        tids = decode_values("int", r.blob(), count, depth + 1)
        nt = len(templates)
        if not below(tids, nt):
            raise CorruptChunkError(f"template id outside 0..{nt - 1}")
        try:
            known = [_parsed(t, ops.is_bytes) for t in templates]
        except ValueError as e:
            raise CorruptChunkError(f"template: {e}") from None
        parsed = [(statics, phs) for statics, phs, _ in known]
        counts = np.bincount(tids, minlength=nt) if count else np.zeros(nt, dtype=np.int64)
        layout = _layout(templates, parsed, counts.tolist())
        static = sum(c * k[2] for c, k in zip(counts.tolist(), known))
        if static > MAX_STATIC_OUTPUT:
            raise CorruptChunkError(f"templates expand to {static} bytes of text")
        ncols = r.u32()
        if ncols != len(layout):
            raise CorruptChunkError(f"{ncols} variable columns, the templates need {len(layout)}")
        order = np.argsort(tids, kind="stable")
        ends = np.cumsum(counts)
        rows_of = [order[e - c : e] for c, e in zip(counts.tolist(), ends.tolist())]
        args: list[list] = [[None] * len(p[1]) for p in parsed]
        for pooled, mem in layout:
            t0, j0 = mem[0]
            typ = parsed[t0][1][j0][0]
            size = sum(int(counts[t]) for t, _ in mem)
            if typ == PH_DSTR:
                lens = decode_values("int", r.blob(), size, depth + 1)
                if size and (int(lens.min()) < 1 or int(lens.max()) > MAX_DIGITS):
                    raise CorruptChunkError(f"digit string length outside 1..{MAX_DIGITS}")
                cols = [lens, decode_values("int", r.blob(), size, depth + 1)]
            else:
                col = decode_values(kind if typ == PH_STR else "int", r.blob(), size, depth + 1)
                cols = [col.view(np.uint64) if typ in (PH_HEX, PH_HEXU) else col]
            if len(mem) == 1:
                args[t0][j0] = [c.tolist() for c in cols]
            elif pooled:
                lists = [c.tolist() for c in cols]
                off = 0
                for t, j in mem:
                    c = int(counts[t])
                    args[t][j] = [v[off : off + c] for v in lists]
                    off += c
            else:
                allrows = np.sort(np.concatenate([rows_of[t] for t, _ in mem]))
                for t, j in mem:
                    pos = np.searchsorted(allrows, rows_of[t])
                    args[t][j] = [c[pos].tolist() for c in cols]
        pct, pct2 = ops.pct, ops.pct2

        def form(tid: int) -> Form:  # built when a line of the template is first rendered
            statics, phs = parsed[tid]
            if not phs:
                return statics[0], None
            fmt_parts = []
            a = []
            for j, (typ, p) in enumerate(phs):
                fmt_parts.append(statics[j].replace(pct, pct2))
                if typ == PH_REF:
                    ref = p
                    typ, p = phs[ref]
                    a.extend(args[tid][ref])
                else:
                    a.extend(args[tid][j])
                fmt_parts.append(_directive(ops, typ, p))
            fmt_parts.append(statics[-1].replace(pct, pct2))
            return ops.empty.join(fmt_parts), a

        return TemplateColumn(tids, rows_of, form)


def _read_dictionary(buf, ops: Ops) -> list:
    """Templates of a dictionary blob: u32 count, then the templates joined by ``\x17``."""
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


def payload_templates(payload: bytes | memoryview) -> list[str | bytes]:
    """The template dictionary of a template payload (codec id byte + body), nothing decoded.

    Templates are ``str`` for a str column and ``bytes`` for a bytes column; see
    :func:`render_template` and :func:`split_template`.  Raises CorruptChunkError when the
    payload is not a well-formed template payload.
    """
    r = Reader(payload)
    cid = r.u8()
    if cid != TEMPLATE:
        raise CorruptChunkError(f"payload of encoding {cid} is not a template payload")
    flags = r.u8()
    if flags not in (0, _FLAG_BYTES):
        raise CorruptChunkError(f"template payload flags {flags:#x}")
    ops = ops_for("bytes" if flags else "str")
    templates = _read_dictionary(r.blob(), ops)
    for t in templates:
        try:
            parse_template(t, ops)
        except ValueError as e:
            raise CorruptChunkError(f"template: {e}") from None
    return templates


def split_template(t: str | bytes) -> tuple[list, list[str]]:
    """``(static_segments, placeholder_names)`` of a template (one more segment than names).

    Names are ``"int"``, ``"hex"`` or ``"*"``; a back-reference is named after its target.
    """
    ops = ops_for("bytes" if isinstance(t, (bytes, bytearray)) else "str")
    statics, phs = parse_template(bytes(t) if ops.is_bytes else t, ops)
    names: list[str] = []
    kinds = {PH_INT: "int", PH_HEX: "hex", PH_HEXU: "hex", PH_STR: "*", PH_DSTR: "int"}
    for typ, p in phs:
        names.append(names[p] if typ == PH_REF else kinds[typ])
    return statics, names
