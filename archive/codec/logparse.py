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
then :func:`merge` folds skeletons that differ in exactly one whitespace-separated unit into
one template whose differing unit becomes a free-text variable (``\\x14``): weekday and month
names, user and host names, process names.  It repeats until nothing merges.

Final templates (what the payload stores) write every placeholder as two characters, a type
character and a parameter character (``chr(0x30 + p)``):

=========  ==========  ======================================================
``\\x11``   ``<int>``   decimal, formatted ``%0{p}d`` (p = zero-padded width)
``\\x12``   ``<hex>``   lowercase hex, ``%0{p}x``
``\\x13``   ``<hex>``   uppercase hex, ``%0{p}X``
``\\x14``   ``<*>``     free text (a str / bytes sub-column)
``\\x15``   (same)      back-reference: repeats the value of slot ``p`` of this line
=========  ==========  ======================================================
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

import numpy as np

#: Placeholder type characters of final templates (each followed by one parameter character).
PH_INT: Final = "\x11"
PH_HEX: Final = "\x12"
PH_HEXU: Final = "\x13"
PH_STR: Final = "\x14"
PH_REF: Final = "\x15"
#: Untyped placeholder of mined skeletons (one character, never in final templates).
PH_VAR: Final = "\x10"
PARAM_BASE: Final = 0x30
MAX_WIDTH: Final = 20
MAX_REF: Final = 64
#: A group of at least this many lines is not merged at a unit that holds numeric variables.
KEEP_TYPED_ROWS: Final = 16

_W = "0-9A-Za-z"
VAR_PATTERN: Final = (
    r"((?=[-0-9A-Fa-f\x10-\x17])(?:[\x10-\x17]+"
    rf"|(?<![{_W}])-?[0-9]+(?![{_W}])"
    rf"|(?<![{_W}])(?=[A-Fa-f]*[0-9])[0-9A-Fa-f]+(?![{_W}])"
    rf"|(?<=0[xX])[0-9A-Fa-f]+(?![{_W}])"
    r"|(?!0[xX][0-9A-Fa-f])[0-9]+))"
)
_RENDER = {PH_INT: "<int>", PH_HEX: "<hex>", PH_HEXU: "<hex>", PH_STR: "<*>"}


class Ops:
    """The str or bytes flavour of every constant and pattern (one instance per kind)."""

    def __init__(self, is_bytes: bool) -> None:
        c = (lambda s: s.encode("latin-1")) if is_bytes else (lambda s: s)
        self.is_bytes = is_bytes
        self.c = c
        self.split = re.compile(c(VAR_PATTERN)).split
        self.ws_split = re.compile(c(r"(\s+)")).split
        self.ph_split = re.compile(c("([\x10-\x15])")).split
        self.tpl_split = re.compile(c("([\x11-\x15].)"), re.S).split
        self.reserved = re.compile(c("[\x10-\x17]")).search
        self.empty = c("")
        self.ph_var = c(PH_VAR)
        self.ph_str = c(PH_STR)
        self.pct, self.pct2 = c("%"), c("%%")

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
    """Split every line and group them by skeleton (first-appearance order)."""
    split, join = ops.split, ops.ph_var.join
    index: dict = {}
    per: list[list] = []
    tids = []
    append_tid = tids.append
    for v in values:
        p = split(v)
        key = join(p[0::2])
        t = index.get(key)
        if t is None:
            t = index[key] = len(per)
            per.append([])
        append_tid(t)
        per[t].append(p)
    tid_arr = np.fromiter(tids, dtype=np.int64, count=len(tids))
    order = np.argsort(tid_arr, kind="stable")
    bounds = np.cumsum(np.bincount(tid_arr, minlength=len(per)))
    groups = []
    start = 0
    for key, lines, end in zip(index, per, bounds.tolist()):
        cols = list(zip(*lines)) if len(lines[0]) > 1 else []
        groups.append(Group(key, order[start:end], [list(c) for c in cols[1::2]]))
        start = end
    return groups


def _units(skel, ops: Ops) -> list:
    return ops.ws_split(skel)


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


def merge(groups: list[Group], ops: Ops, max_rounds: int = 6) -> list[Group]:
    """Fold skeletons that differ in exactly one whitespace unit; repeat up to ``max_rounds``."""
    ph_str = ops.ph_str
    for _ in range(max_rounds):
        units = [_units(g.skeleton, ops) for g in groups]
        buckets: dict = {}
        for gi, u in enumerate(units):
            n = len(u)
            if n < 3:  # a single unit: nothing to keep static
                continue
            pre = [0] * (n + 1)
            h = 0
            for i in range(n):
                pre[i] = h
                h = hash((h, u[i]))
            suf = 0
            for i in range(n - 1, -1, -1):
                if i % 2 == 0 and u[i] and u[i] != ph_str:
                    buckets.setdefault((n, i, pre[i], suf), []).append(gi)
                suf = hash((suf, u[i]))
        # each group joins the largest bucket it belongs to (by rows, then by groups)
        best: dict[int, tuple] = {}
        for key, members in buckets.items():
            if len(members) < 2:
                continue
            score = (sum(len(groups[m].rows) for m in members), len(members), -key[1])
            for m in members:
                if m not in best or score > best[m][0]:
                    best[m] = (score, key)
        chosen: dict = {}
        for m, (_, key) in best.items():
            chosen.setdefault(key, []).append(m)
        merged_any = False
        consumed: set[int] = set()
        new_groups: list[Group] = []
        for key, members in chosen.items():
            if len(members) < 2:
                continue
            i = key[1]
            # a large group whose unit holds numeric variables keeps them typed: it is not
            # turned into free text for the sake of rare variants (a UUID with a digit-less
            # group, a host name instead of an IP)
            members = [m for m in members
                       if len(groups[m].rows) < KEEP_TYPED_ROWS
                       or ops.ph_var not in units[m][i]]
            if len(members) < 2:
                continue
            ref = units[members[0]]
            members = [m for m in members
                       if all(a == b for j, (a, b) in enumerate(zip(units[m], ref)) if j != i)]
            if len(members) < 2:
                continue
            merged_any = True
            consumed.update(members)
            new_groups.append(_merge_members([groups[m] for m in members],
                                             [units[m] for m in members], i, ops))
        if not merged_any:
            break
        keep = [g for gi, g in enumerate(groups) if gi not in consumed]
        # keep first-appearance order (by first row) so template ids stay small and stable
        groups = sorted(keep + new_groups, key=lambda g: int(g.rows[0]))
    return groups


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
        elif typ == PH_STR:
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
    text = _IP_RE.sub("<ip>", text)
    return _TS_RE.sub("<ts>", text)


_IP_RE = re.compile(r"(?<![\w.>])<int>\.<int>\.<int>\.<int>(?![\w<]|\.<)")
_TS_RE = re.compile(
    r"(?:<int>[-/.]<int>(?:[-/.]<int>)?[ T:-]+|<\*> +<\*> +<int> +)?<int>:<int>:<int>(?:[.,:]<int>)?"
)
