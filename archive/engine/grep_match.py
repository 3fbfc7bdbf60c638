"""Whether a literal can occur in lines of a log template (the logic behind ``archive grep``).

:func:`template_may_contain` decides exactly, for one template of the ``template`` encoding
(:mod:`archive.codec.templates`), whether some line rendered from it can contain a literal:
a bit-parallel (shift-and) matcher runs over the template, a numeric placeholder being a loop
over the characters it can print (``-`` and digits for ``<int>``, hex digits for ``<hex>``)
and a ``<*>`` one "anything" or, when its actual values are given, one of them.
:func:`plan` / :func:`regex_requirements` extract from a ``where`` expression the literals a
matching line must contain (``contains``, ``startswith``, the required literal runs of a
``matches`` regex).  :mod:`archive.engine.grep` applies both to the chunks of a scan.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, NamedTuple

from archive.codec.logparse import PH_REF
from archive.codec.template_text import parsed_template, placeholder_names
from archive.query.expr import And, Expr, Or
from archive.query.predicates import Contains, Matches, StartsWith
from archive.query.values import K_BYTES, K_STR, kind_of

try:  # the regex parser of the re module (private, stable since 3.5; 3.11 renamed it)
    from re import _constants as _sre_c  # type: ignore[attr-defined]
    from re import _parser as _sre_p  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_constants as _sre_c  # type: ignore[no-redef]
    import sre_parse as _sre_p  # type: ignore[no-redef]

__all__ = ["FreeValues", "Need", "plan", "regex_requirements", "template_may_contain"]

#: Characters a placeholder of each type can print (``None``: anything).
_CLASSES: dict[str, str | None] = {"int": "-0123456789", "hex": "0123456789abcdefABCDEF", "*": None}


# --------------------------------------------------------------------------- requirements
class Need(NamedTuple):
    """A string predicate's requirement on a path's str or bytes values.

    ``alts``: the value must contain, for at least one alternative, every literal of that
    alternative (``(literal, anchored)``; anchored: the value starts with it); ``flags``: the
    ``re`` flags (IGNORECASE, ASCII) literal characters compare under; ``no_lists``: the
    predicate also holds for list values (``contains``), so lists at the path keep the group.
    """

    path: tuple[str, ...]
    kind: str
    alts: tuple[tuple[tuple[Any, bool], ...], ...]
    flags: int
    no_lists: bool


def regex_requirements(rx: re.Pattern) -> tuple[tuple[tuple[tuple[Any, bool], ...], ...], int] | None:
    """``(alternatives, flags)``: literal runs every match of ``rx`` contains (None: unknown).

    The top-level sequence's literal runs (groups without flag changes are flattened) are
    all required; a pattern that is a single alternation requires one branch's runs.  A run
    right after ``\\A`` (or ``^`` without MULTILINE) at the start is anchored.
    """
    try:
        parsed = _sre_p.parse(rx.pattern, rx.flags)
    except Exception:  # noqa: BLE001 - whatever the private parser does, do not prune
        return None
    flags = parsed.state.flags
    if flags & re.LOCALE:
        return None
    items = list(parsed)
    while len(items) == 1 and items[0][0] is _sre_c.SUBPATTERN and not items[0][1][1] \
            and not items[0][1][2]:
        items = list(items[0][1][3])  # "(error|fail)": the group is the whole pattern
    if len(items) == 1 and items[0][0] is _sre_c.BRANCH:
        seqs = items[0][1][1]
    else:
        seqs = [items]
    alts = []
    for seq in seqs:
        runs = _literal_runs(list(seq), flags, isinstance(rx.pattern, bytes))
        if not runs:
            return None  # this branch needs no text: nothing to rule out
        alts.append(tuple(runs))
    return tuple(alts), flags & (re.IGNORECASE | re.ASCII)


def _literal_runs(seq: list, flags: int, is_bytes: bool) -> list[tuple[Any, bool]]:
    c = _sre_c
    runs: list[tuple[Any, bool]] = []
    cur: list[int] = []
    anchored = False
    at_start = True

    def flush() -> None:
        nonlocal anchored
        if cur:
            runs.append(((bytes(cur) if is_bytes else "".join(map(chr, cur))), anchored))
            cur.clear()
        anchored = False

    stack = list(reversed(seq))
    while stack:
        op, av = stack.pop()
        if op is c.LITERAL:
            cur.append(av)
        elif op is c.SUBPATTERN and not av[1] and not av[2]:
            stack.extend(reversed(list(av[3])))  # a plain group matches in sequence
            continue
        elif op is c.AT and at_start and (
                av is c.AT_BEGINNING_STRING or (av is c.AT_BEGINNING and not flags & re.MULTILINE)):
            anchored = True
        else:
            flush()
        at_start = False
    flush()
    return runs


def _leaf_need(e: Expr) -> Need | None:
    if isinstance(e, (Contains, StartsWith)):
        lit = e.value
        k = kind_of(lit)
        if k not in (K_STR, K_BYTES) or not lit:
            return None
        return Need(e.path, "str" if k == K_STR else "bytes", (((lit, isinstance(e, StartsWith)),),),
                    0, isinstance(e, Contains))
    if isinstance(e, Matches):
        req = regex_requirements(e.regex)
        if req is None:
            return None
        return Need(e.path, "bytes" if isinstance(e.value, bytes) else "str", req[0], req[1], False)
    return None


@lru_cache(maxsize=256)
def plan(expr: Expr) -> Any:
    """What the templates can rule out of ``expr``: None (nothing), a :class:`Need`, or
    ``("and" | "or", [plans])``."""
    if isinstance(expr, (And, Or)):
        subs = [plan(e) for e in expr.items]
        if isinstance(expr, And):
            subs = [s for s in subs if s is not None]
            if not subs:
                return None
            return subs[0] if len(subs) == 1 else ("and", subs)
        if any(s is None for s in subs):
            return None
        return ("or", subs)
    return _leaf_need(expr)


# --------------------------------------------------------------------------- one template
_VERDICTS: dict[tuple, bool] = {}
_MAX_VERDICTS = 1 << 16


def _eq_fn(flags: int, is_bytes: bool):
    """Character equality as ``re`` applies it to a literal under ``flags`` (case folding)."""
    if not flags & re.IGNORECASE:
        return None

    @lru_cache(maxsize=4096)
    def eq(a: int, b: int) -> bool:
        if a == b:
            return True
        if is_bytes:
            return re.fullmatch(re.escape(bytes([a])), bytes([b]), flags) is not None
        return re.fullmatch(re.escape(chr(a)), chr(b), flags) is not None
    return eq


_EQ = {(f, b): _eq_fn(f, b) for f in (0, re.IGNORECASE, re.IGNORECASE | re.ASCII) for b in (False, True)}


@lru_cache(maxsize=1 << 14)
def _split(template: str | bytes) -> tuple[tuple, list[str], list[int]] | None:
    """``(statics, names, sources)`` of a template (None: malformed); ``sources[i]`` is the
    slot whose values placeholder ``i`` prints (itself, or a back-reference's target)."""
    try:
        statics, phs, _ = parsed_template(template)
    except ValueError:
        return None
    sources = [p if typ == PH_REF else i for i, (typ, p) in enumerate(phs)]
    return statics, placeholder_names(phs), sources


class FreeValues:
    """The distinct values of a ``<*>`` slot, joined with ``\x00`` around each, so that the
    matcher asks its questions (does a value start / end with, or equal, this text?) with one
    substring search each.  A text holding ``\x00`` may be found across two values: a false
    alarm, which only keeps a group."""

    __slots__ = ("empty", "joined", "sep")

    def __init__(self, values: Any) -> None:
        vals = list(set(values))
        sep: Any = b"\x00" if vals and isinstance(vals[0], bytes) else "\x00"
        self.sep = sep
        self.joined = sep + sep.join(vals) + sep
        self.empty = sep[:0] in vals


class _Lit:
    """A literal compiled for the shift-and matcher: bit j of a state set <=> the text so
    far ends with ``lit[:j + 1]``."""

    def __init__(self, lit: Any, anchored: bool, flags: int) -> None:
        self.lit: Any = lit
        self.anchored = anchored
        self.is_bytes = isinstance(lit, (bytes, bytearray))
        self.codes = list(lit) if self.is_bytes else list(map(ord, lit))
        self.m = len(self.codes)
        self.goal = 1 << (self.m - 1)
        flags &= re.IGNORECASE | re.ASCII
        self.flags = flags
        self.icase = bool(flags & re.IGNORECASE)
        self.eq = _EQ.get((flags, self.is_bytes)) if self.icase else None
        self.inside = re.compile(re.escape(lit), flags).search  # lit within one text, as re sees it
        self.masks: dict[int, int] = {}
        self.classes = {}
        for name, chars in _CLASSES.items():
            if chars is not None:
                cm = 0
                for ch in chars.encode() if self.is_bytes else map(ord, chars):
                    cm |= self.mask(ch)
                self.classes[name] = cm

    def mask(self, ch: int) -> int:
        mk = self.masks.get(ch)
        if mk is None:
            mk = 0
            for j, lc in enumerate(self.codes):
                if lc == ch or (self.eq is not None and self.eq(lc, ch)):
                    mk |= 1 << j
            self.masks[ch] = mk
        return mk

    def _chars(self, d: int, start: bool, text: Any) -> tuple[int, bool, bool]:
        goal, anchored, mask = self.goal, self.anchored, self.mask
        for ch in (text if self.is_bytes else map(ord, text)):
            d = ((d << 1) | (1 if start or not anchored else 0)) & mask(ch)
            start = False
            if d & goal:
                return d, False, True
            if anchored and not d:
                break
        return d, start, False

    def run(self, d: int, start: bool, text: Any) -> tuple[int, bool, bool]:
        """Feed a known text: (states after it, still at the line's start, lit seen)."""
        n, m = len(text), self.m
        if self.anchored or n < m:
            return self._chars(d, start, text)
        # unanchored, a text at least as long as lit: a match lies inside it, or completes
        # within its first m - 1 characters, and only its last m - 1 ones leave states
        if self.inside(text) or (d and self._chars(d, False, text[: m - 1])[2]):
            return 0, False, True
        return (self._chars(0, False, text[n - m + 1:])[0] if m > 1 else 0), False, False

    def _find(self, needle: Any, text: Any) -> bool:
        if not self.icase:
            return needle in text
        return re.search(re.escape(needle), text, self.flags) is not None

    def through(self, d: int, start: bool, fv: FreeValues) -> tuple[int, bool, bool]:
        """Like :meth:`run` for a variable taking any one of ``fv``'s values."""
        m, lit, sep, joined, find = self.m, self.lit, fv.sep, fv.joined, self._find
        if type(sep) is not type(lit):
            return 0, False, True  # values of the other kind: cannot tell, keep
        if not self.anchored and self.inside(joined):
            return 0, False, True  # a match inside one value
        nd, nstart = 0, False
        heads = [j for j in range(m - 1) if d >> j & 1]  # partial matches reaching the value
        if self.anchored and start:
            heads.append(-1)
        for j in heads:
            rest = lit[j + 1:]
            if find(sep + rest, joined):
                return 0, False, True  # a value starts with the rest of lit
            for k in range(1, len(rest)):
                if find(sep + rest[:k] + sep, joined):
                    nd |= 1 << (j + k)  # a value is a prefix of the rest: crossed
            if fv.empty:
                if j < 0:
                    nstart = True
                else:
                    nd |= 1 << j
        if not self.anchored:  # partial matches starting inside a value, ending with it
            for j in range(m - 1):
                if find(lit[: j + 1] + sep, joined):
                    nd |= 1 << j
        return nd, nstart, False

    def var(self, d: int, start: bool, name: str) -> int:
        """States after a numeric variable (at least one character of its class)."""
        cm = self.classes[name]
        reach = ((d << 1) | (1 if start or not self.anchored else 0)) & cm
        step = 0 if self.anchored else 1
        while True:
            nxt = ((reach << 1) | step) & cm
            if nxt | reach == reach:
                return reach
            reach |= nxt


@lru_cache(maxsize=256)
def _lit(lit: str | bytes, anchored: bool, flags: int) -> _Lit:
    return _Lit(lit, anchored, flags)


def template_may_contain(template: str | bytes, lit: str | bytes, anchored: bool = False,
                         flags: int = 0, free: dict[int, Any] | None = None) -> bool:
    """Can a line of ``template`` contain ``lit`` (start with it, when ``anchored``)?

    Exact for the placeholder alphabets of the module docstring; a ``<*>`` placeholder
    prints anything unless ``free`` maps its slot number to the values it can take (a
    back-reference takes its target's).  ``flags`` (``re.IGNORECASE``, ``re.ASCII``) make
    characters compare as ``re`` compares them.  False is a proof: no line qualifies.
    """
    if not lit:
        return True
    if free is not None:
        return _may_contain(template, _lit(lit, anchored, flags), free)
    key = (template, lit, anchored, flags)
    got = _VERDICTS.get(key)
    if got is None:
        got = _may_contain(template, _lit(lit, anchored, flags), None)
        if len(_VERDICTS) >= _MAX_VERDICTS:
            _VERDICTS.clear()
        _VERDICTS[key] = got
    return got


def _may_contain(template: str | bytes, L: _Lit, free: dict[int, Any] | None) -> bool:
    sp = _split(template)
    if sp is None:
        return True  # not a template this module understands: keep
    statics, names, sources = sp
    if L.anchored:
        if not L.icase and statics[0].startswith(L.lit):
            return True
    elif any(L.inside(s) for s in statics):
        return True
    if not names:
        return False
    if free is None and not L.anchored and "*" in names:
        return True
    d, start = 0, True  # start: the text so far may be empty (where an anchored lit begins)
    for i, s in enumerate(statics):
        d, start, hit = L.run(d, start, s)
        if hit:
            return True
        if i == len(names):
            return False
        if L.anchored and not d and not start:
            return False
        if names[i] != "*":
            d, start = L.var(d, start, names[i]), False
        else:
            values = None if free is None else free.get(sources[i])
            if values is None:  # free text: prints anything, the rest of lit included
                return True
            if not isinstance(values, FreeValues):
                values = FreeValues(values)
            d, start, hit = L.through(d, start, values)
            if hit:
                return True
        if d & L.goal:
            return True
    return False


def _alt_may(t: Any, alt: tuple, flags: int, free: dict | None = None) -> bool:
    return all(template_may_contain(t, lit, anch, flags, free) for lit, anch in alt)
