"""Log-line tokenizer and template miner behind the ``template`` encoding (archive.codec.templates).

A line is split once by one compiled master pattern (:data:`VAR_PATTERN`, ``re.split``) into
static text and *variable tokens*:

* runs of the reserved characters ``\\x10``-``\\x17`` (so static text never holds them and they
  can mark placeholders in templates without escaping);
* whole alphanumeric words made of hex digits that contain a decimal digit (``2015``,
  ``9f4ef63``, ``38101a0b``), with a leading ``-`` when that ``-`` starts a word (``-127``,
  ``blk_-695...``);
* the hex digits after ``0x`` (``0x7fed806eb5d``: ``0x`` stays static);
* any other decimal digit run inside a word (``dn228``, ``R02-M1``, ``ssh2``).

Word characters are ASCII ``[0-9A-Za-z]``; ``_``, ``.``, ``-``, ``:`` and the rest separate
words, so ``10.251.73.220:50010``, ``2015-10-18 18:01:47,978`` and
``appattempt_1445144423722_0020_000001`` become runs of small numeric variables around static
punctuation.  The split is lossless by construction: ``"".join(parts) == line``.

:func:`mine` groups lines by their *skeleton* (static text with ``\\x10`` for each variable),
then :func:`merge` folds *rare* skeletons that differ in exactly one whitespace-separated unit
into one template whose differing unit becomes a free-text variable (``\\x14``): user and host
names, process names.  It repeats until nothing merges.

Final templates (what the payload stores) write every placeholder as two characters, a type
character and a parameter character (``chr(0x30 + p)``):

=========  ==========  ======================================================
``\\x11``   ``<int>``   decimal, formatted ``%0{p}d`` (p = zero-padded width)
``\\x12``   ``<hex>``   lowercase hex, ``%0{p}x``
``\\x13``   ``<hex>``   uppercase hex, ``%0{p}X``
``\\x14``   ``<*>``     free text (a str / bytes sub-column)
``\\x15``   (same)      back-reference: repeats the value of slot ``p`` of this line
``\\x16``   ``<int>``   digit string with its own length, ``%0*d`` (two int sub-columns:
                        lengths, values), for ``1.05`` / ``1.5`` style fractions
=========  ==========  ======================================================
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Final

import numpy as np

#: Placeholder type characters of final templates (each followed by one parameter character).
PH_INT: Final = "\x11"
PH_HEX: Final = "\x12"
PH_HEXU: Final = "\x13"
PH_STR: Final = "\x14"
PH_REF: Final = "\x15"
PH_DSTR: Final = "\x16"
#: Untyped placeholder of mined skeletons (one character, never in final templates).
PH_VAR: Final = "\x10"
PARAM_BASE: Final = 0x30
MAX_WIDTH: Final = 20
MAX_REF: Final = 64
#: A group of at least this many lines is not merged at a unit that holds numeric variables.
KEEP_TYPED_ROWS: Final = 4
#: Only skeletons of fewer lines than this are merged, and a merge gathers at least
#: MERGE_MIN_TOTAL lines (see :func:`merge`).
MERGE_MAX_ROWS: Final = 8
MERGE_MIN_TOTAL: Final = 16
#: :func:`mine` splits only the distinct lines when they are at most this share of the lines.
DISTINCT_SHARE: Final = 0.5

_W = "0-9A-Za-z"
VAR_PATTERN: Final = (
    r"((?=[-0-9A-Fa-f\x10-\x17])(?:[\x10-\x17]+"
    rf"|(?<![{_W}])-?[0-9]+(?![{_W}])"
    rf"|(?<![{_W}])(?=[A-Fa-f]*[0-9])[0-9A-Fa-f]+(?![{_W}])"
    rf"|(?<=0[xX])[0-9A-Fa-f]+(?![{_W}])"
    r"|(?!0[xX][0-9A-Fa-f])[0-9]+))"
)
_RENDER = {PH_INT: "<int>", PH_HEX: "<hex>", PH_HEXU: "<hex>", PH_STR: "<*>", PH_DSTR: "<int>"}


class Ops:
    """The str or bytes flavour of every constant and pattern (one instance per kind)."""

    def __init__(self, is_bytes: bool) -> None:
        c = (lambda s: s.encode("latin-1")) if is_bytes else (lambda s: s)
        self.is_bytes = is_bytes
        self.c = c
        self.split = re.compile(c(VAR_PATTERN)).split
        self.ws_split = re.compile(c(r"(\s+)")).split
        self.ph_split = re.compile(c("([\x10-\x15])")).split
        self.tpl_split = re.compile(c("([\x11-\x16].)"), re.DOTALL).split
        self.reserved = re.compile(c("[\x10-\x17]")).search
        self.empty = c("")
        self.ph_var = c(PH_VAR)
        self.sep = c("\n")
        self.alt_sep = c("\x1e")  # mine's separator when lines hold newlines
        self.dict_sep = c("\x17")
        self.ph_str = c(PH_STR)
        self.pct, self.pct2 = c("%"), c("%%")
        self.minus = c("-")
        self.slot_iter = re.compile(c("[\x10\x14]")).finditer
        self.dec_only = re.compile(c(r"[-0-9]*\Z")).match
        self.hex_only = re.compile(c(r"[0-9A-Fa-f]*\Z")).match
        self.digits_only = re.compile(c(r"[0-9]*\Z")).match

    def to_bytes(self, t: str | bytes) -> bytes:
        return t if self.is_bytes else t.encode("utf-8", "surrogatepass")  # type: ignore[return-value]

    def from_bytes(self, b: bytes) -> str | bytes:
        return b if self.is_bytes else b.decode("utf-8", "surrogatepass")


STR_OPS: Final = Ops(False)
BYTES_OPS: Final = Ops(True)


def ops_for(kind: str) -> Ops:
    return BYTES_OPS if kind == "bytes" else STR_OPS


@dataclass
class Group:
    """Lines sharing one skeleton: their row numbers and one value list per variable slot."""

    skeleton: str | bytes
    rows: np.ndarray                      # int64, ascending
    slots: list[list] = field(default_factory=list)


def mine(values, ops: Ops) -> list[Group]:
    """Split every line and group them by skeleton (first-appearance order).

    The lines are joined with a separator none of them contains (a newline, else ``\x1e``)
    and split by the master pattern in one call (the pattern never matches across such a
    non-word character, so this is the per-line split); each slot's values are then gathered
    per skeleton with numpy indexing.  A line's split depends on the line alone, so when at
    most :data:`DISTINCT_SHARE` of the lines are distinct, only the distinct ones are split
    and each line takes the tokens of its distinct line: the same groups, for a fraction of
    the work on repetitive columns.
    """
    vals = values.tolist() if isinstance(values, np.ndarray) else list(values)
    n = len(vals)
    if not n:
        return []
    sep, ph = ops.sep, ops.ph_var
    lines, inv = vals, None
    distinct = dict.fromkeys(vals)
    if len(distinct) <= DISTINCT_SHARE * n:
        where = dict(zip(distinct, range(len(distinct))))
        inv = np.fromiter(map(where.__getitem__, vals), dtype=np.int64, count=n)
        lines = list(distinct)
    text = sep.join(lines)
    if text.count(sep) != len(lines) - 1:
        sep = ops.alt_sep
        text = sep.join(lines)
        if text.count(sep) != len(lines) - 1:
            return _mine_lines(vals, ops)
    parts = ops.split(text)
    skels = ph.join(parts[0::2]).split(sep)
    index: dict = {}
    tids = [index.setdefault(sk, len(index)) for sk in skels]
    tid_arr = np.array(tids, dtype=np.int64)
    k_t = np.array([sk.count(ph) for sk in index], dtype=np.int64)
    tokens = np.empty(len(parts) // 2, dtype=object)
    tokens[:] = parts[1::2]
    k_line = k_t[tid_arr]
    off = np.cumsum(k_line) - k_line  # each line's first token
    if inv is not None:  # every line: its distinct line's template and tokens
        tid_arr, k_line, off = tid_arr[inv], k_line[inv], off[inv]
    # token indices of the lines in template order: each template's tokens become one
    # (lines x slots) block, transposed into its slot columns with one numpy call
    order = np.argsort(tid_arr, kind="stable")
    k_sorted = k_line[order]
    total = int(k_sorted.sum())
    starts = np.repeat(off[order] - (np.cumsum(k_sorted) - k_sorted), k_sorted)
    flat = tokens[starts + np.arange(total)] if total else tokens[:0]
    counts = np.bincount(tid_arr, minlength=len(index))
    groups = []
    r0 = t0 = 0
    for t, skel in enumerate(index):
        m, k = int(counts[t]), int(k_t[t])
        rows = order[r0 : r0 + m]
        slots = flat[t0 : t0 + m * k].reshape(m, k).T.tolist() if k else []
        groups.append(Group(skel, rows, slots))
        r0 += m
        t0 += m * k
    return groups


def _mine_lines(vals: list, ops: Ops) -> list[Group]:
    """Per-line fallback of :func:`mine` when the lines hold both separators; each distinct
    line is split once."""
    split, join = ops.split, ops.ph_var.join
    index: dict = {}
    per: list[list] = []
    tids = []
    seen: dict = {}  # line -> (template number, its tokens)
    for v in vals:
        got = seen.get(v)
        if got is None:
            p = split(v)
            t = index.setdefault(join(p[0::2]), len(per))
            if t == len(per):
                per.append([])
            got = seen[v] = (t, p[1::2])
        tids.append(got[0])
        per[got[0]].append(got[1])
    tid_arr = np.array(tids, dtype=np.int64)
    order = np.argsort(tid_arr, kind="stable")
    bounds = np.cumsum(np.bincount(tid_arr, minlength=len(per))).tolist()
    groups = []
    for t, skel in enumerate(index):
        rows = order[bounds[t] - len(per[t]) : bounds[t]]
        groups.append(Group(skel, rows, [list(c) for c in zip(*per[t])]))
    return groups


def _merge_value(unit, vals: list[list], n: int, ops: Ops) -> list:
    """Per-row text of one whitespace unit of a skeleton, given the slot values inside it."""
    pieces = ops.ph_split(unit)
    if not vals:
        return [unit] * n
    statics = [pieces[i] for i in range(0, len(pieces), 2)]
    empty = ops.empty
    out = []
    for row in zip(*vals):
        buf = [statics[0]]
        for v, s in zip(row, statics[1:]):
            buf.append(v)
            buf.append(s)
        out.append(empty.join(buf))
    return out


def _unit_keys(skel, u: list, ops: Ops) -> list:
    """One bucket key per mergeable unit: (position, the skeleton with that unit as ``\x14``)."""
    n = len(u)
    if n < 3:  # a single unit: nothing would stay static
        return []
    ends = list(accumulate(map(len, u)))
    ph_str = ops.ph_str
    return [(i, skel[: ends[i] - len(u[i])] + ph_str + skel[ends[i] :])
            for i in range(0, n, 2) if u[i] and u[i] != ph_str]


def merge(groups: list[Group], ops: Ops, max_rounds: int = 8) -> list[Group]:
    """Fold rare skeletons that differ in exactly one whitespace unit into one template.

    Only groups of fewer than :data:`MERGE_MAX_ROWS` lines (and groups merged before) take
    part, and a merge must gather at least :data:`MERGE_MIN_TOTAL` lines: near-identical rare
    lines cost less as dictionary text (zstd sees the repeats) than as columns, and frequent
    skeletons are better off as their own templates (measured on loghub).  Each round every
    group joins the largest bucket (lines, then groups) it shares with another group; later
    rounds only revisit buckets that gained a merged group.
    """
    groups = list(groups)
    n_mined = len(groups)
    units: list = [ops.ws_split(g.skeleton) if len(g.rows) < MERGE_MAX_ROWS else None
                   for g in groups]
    alive = [True] * len(groups)
    buckets: dict[tuple, list[int]] = {}

    def add(gi: int) -> list[tuple]:
        touched = []
        for k in _unit_keys(groups[gi].skeleton, units[gi], ops):
            b = buckets.setdefault(k, [])
            b.append(gi)
            if len(b) > 1:
                touched.append(k)
        return touched

    # two skeletons that differ in one unit have as many units and share the first or the
    # second half of them: only skeletons sharing a half with another one get bucket keys
    halves: dict[tuple, int] = {}
    hs = []
    for u in units:
        if u is None:
            hs.append(None)
            continue
        h = len(u) // 2
        pair = ((len(u), 0) + tuple(u[:h]), (len(u), 1) + tuple(u[h:]))
        hs.append(pair)
        for e in pair:
            halves[e] = halves.get(e, 0) + 1
    dirty: set = set()
    for gi, pair in enumerate(hs):
        if pair is not None and (halves[pair[0]] > 1 or halves[pair[1]] > 1):
            dirty.update(add(gi))
    ph_var = ops.ph_var
    for _ in range(max_rounds):
        if not dirty:
            break
        best: dict[int, tuple] = {}
        for key in dirty:
            i = key[0]
            # a large group whose unit holds numeric variables keeps them typed: it is not
            # turned into free text for the sake of rare variants (a UUID with a digit-less
            # group, a host name instead of an IP)
            members = [m for m in buckets[key] if alive[m]
                       and (len(groups[m].rows) < MERGE_MAX_ROWS or m >= n_mined)
                       and (len(groups[m].rows) < KEEP_TYPED_ROWS or ph_var not in units[m][i])]
            total = sum(len(groups[m].rows) for m in members)
            if len(members) < 2 or total < MERGE_MIN_TOTAL:
                continue
            score = (total, len(members), -i)
            for m in members:
                if m not in best or score > best[m][0]:
                    best[m] = (score, key)
        chosen: dict[tuple, list[int]] = {}
        for m, (_, key) in best.items():
            chosen.setdefault(key, []).append(m)
        dirty = set()
        for key, members in chosen.items():
            if len(members) < 2:
                continue
            i = key[0]
            ref = units[members[0]]
            members = [m for m in members
                       if all(a == b for j, (a, b) in enumerate(zip(units[m], ref)) if j != i)]
            if len(members) < 2:
                continue
            g = _merge_members([groups[m] for m in members], [units[m] for m in members], i, ops)
            for m in members:
                alive[m] = False
            groups.append(g)
            units.append(ops.ws_split(g.skeleton))
            alive.append(True)
            dirty.update(add(len(groups) - 1))
    out = [g for g, a in zip(groups, alive) if a]
    # first-appearance order, so template ids stay small and stable
    out.sort(key=lambda g: int(g.rows[0]))
    return out


def _merge_members(members: list[Group], units: list[list], i: int, ops: Ops) -> Group:
    skel_units = list(units[0])
    skel_units[i] = ops.ph_str
    skel = ops.empty.join(skel_units)
    parts_rows, parts_slots = [], []
    for g, u in zip(members, units):
        before = sum(_nslots(unit, ops) for unit in u[:i])
        inside = _nslots(u[i], ops)
        n = len(g.rows)
        text = _merge_value(u[i], g.slots[before : before + inside], n, ops)
        parts_slots.append(g.slots[:before] + [text] + g.slots[before + inside :])
        parts_rows.append(g.rows)
    rows = np.concatenate(parts_rows)
    order = np.argsort(rows, kind="stable")
    nslots = len(parts_slots[0])
    slots = []
    for j in range(nslots):
        col = np.empty(len(rows), dtype=object)
        col[:] = [v for ps in parts_slots for v in ps[j]]
        slots.append(col[order].tolist())
    return Group(skel, rows[order], slots)


def _nslots(unit, ops: Ops) -> int:
    return unit.count(ops.ph_var) + unit.count(ops.ph_str)


# --------------------------------------------------------------------------- final templates


def parse_template(t: str | bytes, ops: Ops) -> tuple[list, list[tuple[str, int]]]:
    """``(statics, placeholders)`` of a final template; ``ValueError`` when malformed.

    ``statics`` has one more item than ``placeholders``; each placeholder is ``(type, param)``
    with ``type`` one of the ``PH_*`` characters (as str) and ``param`` an int.
    """
    parts = ops.tpl_split(t)
    statics = parts[0::2]
    for s in statics:
        if ops.reserved(s):
            raise ValueError("stray placeholder character in template text")
    phs = []
    for p in parts[1::2]:
        if ops.is_bytes:
            typ, param = chr(p[0]), p[1] - PARAM_BASE
        else:
            typ, param = p[0], ord(p[1]) - PARAM_BASE
        phs.append((typ, param))
    for j, (typ, param) in enumerate(phs):
        if typ == PH_REF:
            if not 0 <= param < j or phs[param][0] == PH_REF:
                raise ValueError(f"bad back-reference {param} in slot {j}")
        elif typ in (PH_STR, PH_DSTR):
            if param != 0:
                raise ValueError("free-text placeholder with a parameter")
        elif not 1 <= param <= MAX_WIDTH:
            raise ValueError(f"numeric placeholder width {param} outside 1..{MAX_WIDTH}")
    return statics, phs


def render_template(t: str | bytes) -> str:
    """Human-readable template: ``<int>``, ``<hex>``, ``<ip>``, ``<ts>``, ``<*>`` placeholders.

    Bytes templates (non-UTF-8 lines) are shown with undecodable bytes as ``\\xNN`` escapes.
    """
    ops = BYTES_OPS if isinstance(t, (bytes, bytearray)) else STR_OPS
    statics, phs = parse_template(bytes(t) if ops.is_bytes else t, ops)
    names = []
    for typ, param in phs:
        names.append(names[param] if typ == PH_REF else _RENDER[typ])
    out = []
    for s, name in zip(statics, names + [""]):
        if ops.is_bytes:
            s = s.decode("utf-8", "backslashreplace")
        out.append(s)
        out.append(name)
    text = "".join(out)
    text = _IP_RE.sub(_if_variable("<ip>"), text)
    return _TS_RE.sub(_if_variable("<ts>"), text)


_N = r"(?:<int>|[0-9]{1,4})"
_IP_RE = re.compile(rf"(?<![\w.>]){_N}\.{_N}\.{_N}\.{_N}(?![\w<]|\.[\w<])")
_TS_RE = re.compile(
    rf"(?<![\w>])(?:{_N}[-/.]{_N}(?:[-/.]{_N})?[ T:-]+|<\*> +<\*> +{_N} +)?"
    rf"{_N}:{_N}:{_N}(?:[.,:]{_N})?(?![\w<])"
)


def _if_variable(name: str):
    return lambda m: name if "<int>" in m.group() else m.group()
