"""Log-line tokenizer and skeleton miner behind the ``template`` encoding (archive.codec.templates).

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

:func:`mine` groups lines by their *skeleton* (static text with ``\\x10`` for each variable);
:func:`archive.codec.logmerge.merge` then folds rare skeletons into free-text templates.

Final templates (what the payload stores; parsed and rendered by
:mod:`archive.codec.template_text`) write every placeholder as two characters, a type
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
#: Final templates: widest zero-padded number, how many of a line's first slots a
#: back-reference may repeat, longest digit string (``\x16``).
MAX_WIDTH: Final = 20
MAX_REF: Final = 64
MAX_DIGITS: Final = 18
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
        return t if self.is_bytes else t.encode("utf-8", "surrogatepass")  # type: ignore[return-value,union-attr]

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
