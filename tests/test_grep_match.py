"""Template matching (archive.engine.grep_match): whether one log template can hold a line that
matches a literal or a regex, proved never to miss against rendered lines."""
from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archive.codec.logparse import PARAM_BASE, PH_HEX, PH_HEXU, PH_INT, PH_REF, PH_STR
from archive.engine import grep


def T(*parts: str) -> str:
    """A final template: literal strings and placeholders ``int``/``hex``/``HEX``/``*``/``@j``."""
    out = []
    for p in parts:
        if p == "int":
            out.append(PH_INT + chr(PARAM_BASE + 1))
        elif p == "hex":
            out.append(PH_HEX + chr(PARAM_BASE + 1))
        elif p == "HEX":
            out.append(PH_HEXU + chr(PARAM_BASE + 1))
        elif p == "*":
            out.append(PH_STR + chr(PARAM_BASE))
        elif p.startswith("@"):
            out.append(PH_REF + chr(PARAM_BASE + int(p[1:])))
        else:
            out.append(p)
    return "".join(out)


@pytest.mark.parametrize("tpl,lit,anchored,flags,want", [
    (T("Receiving block blk_", "int", " src"), "block blk_", False, 0, True),      # static text
    (T("Receiving block blk_", "int", " src"), "blk_-12", False, 0, True),        # into an <int>
    (T("Receiving block blk_", "int", " src"), "blk_x", False, 0, False),
    (T("Receiving block blk_", "int", " src"), "9 src", False, 0, True),          # out of it
    (T("Receiving block blk_", "int", " src"), "9 sr c", False, 0, False),
    (T("ip ", "int", ".", "int", ".", "int", ".", "int", ":"), "10.251", False, 0, True),  # across two
    (T("ip ", "int", ".", "int", ".", "int", ".", "int", ":"), "10.251.3.4:", False, 0, True),
    (T("ip ", "int", ".", "int", ".", "int", ".", "int", ":"), "10..251", False, 0, False),  # never empty
    (T("ip ", "int", ".", "int", ".", "int", ".", "int", ":"), "p 1.2.3.4:5", False, 0, False),
    (T("id=0x", "hex", " ok"), "0xdeadBEEF ok", False, 0, True),
    (T("id=0x", "hex", " ok"), "0xbeefy", False, 0, False),
    (T("id=", "HEX", "/", "@0"), "=AB/AB", False, 0, True),                    # back-reference
    (T("id=", "HEX", "/", "@0"), "=AB/AG", False, 0, False),
    (T("user ", "*", " logged in"), "session opened", False, 0, True),          # <*>: anything
    (T("user ", "*", " logged in"), "session opened", True, 0, False),          # ...but anchored
    (T("user ", "*", " logged in"), "user root", True, 0, True),
    (T("user ", "*", " logged in"), "usr", True, 0, False),
    (T("int", " ERROR x"), "12 ERROR", True, 0, True),
    (T("int", " ERROR x"), "ERROR", True, 0, False),
    (T("int", " ERROR x"), "-", True, 0, True),
    (T("Failed password"), "failed PASS", False, re.IGNORECASE, True),
    (T("Failed password"), "failed PASS", False, 0, False),
    (T("temp \u212a"), "k", False, re.IGNORECASE, True),                       # Kelvin sign folds
    (T("temp \u212a"), "k", False, re.IGNORECASE | re.ASCII, False),
    (T("v", "int"), "V-", False, re.IGNORECASE, True),
    (T("crc ", "hex"), "CRC AF", False, re.IGNORECASE, True),
    (T("crc ", "int"), "CRC AF", False, re.IGNORECASE, False),
])
def test_template_may_contain_cases(tpl, lit, anchored, flags, want):
    assert grep.template_may_contain(tpl, lit, anchored, flags) is want
    assert grep.template_may_contain(tpl.encode(), lit.encode(), anchored, flags & ~re.ASCII) is want \
        or not lit.isascii() or not tpl.isascii()


_STATIC = st.text(alphabet="ab1 -:.xF", max_size=6)
_PH = st.sampled_from(["int", "hex", "HEX", "*"])


@st.composite
def _template_and_line(draw):
    """A random template and one of its lines: every substring of the line must be found."""
    n = draw(st.integers(0, 4))
    parts, line = [draw(_STATIC)], [None]
    line[0] = parts[0]
    free: dict[int, set] = {}
    for slot in range(n):
        ph = draw(_PH)
        if ph == "int":
            v = str(draw(st.integers(-10**6, 10**6)))
        elif ph == "hex":
            v = format(draw(st.integers(0, 10**9)), "x")
        elif ph == "HEX":
            v = format(draw(st.integers(0, 10**9)), "X")
        else:
            v = draw(st.text(alphabet="ab1 -:xyz", max_size=12))
            free[slot] = {v, draw(st.text(alphabet="ab1 -:xyz", max_size=12))}
        s = draw(_STATIC)
        parts += [ph, s]
        line += [v, s]
    return T(*parts), "".join(line), free


@settings(max_examples=300)
@given(_template_and_line(), st.data())
def test_template_may_contain_never_misses(tl, data):
    tpl, line, free = tl
    i = data.draw(st.integers(0, len(line)))
    j = data.draw(st.integers(i, len(line)))
    lit = line[i:j]
    assert grep.template_may_contain(tpl, lit)
    assert grep.template_may_contain(tpl, line[:j], anchored=True)
    flipped = "".join(c.swapcase() if data.draw(st.booleans()) else c for c in lit)
    assert grep.template_may_contain(tpl, flipped, flags=re.IGNORECASE)
    assert grep.template_may_contain(tpl.encode(), lit.encode())
    assert grep.template_may_contain(tpl, lit, free=free)  # <*> slots: their actual values
    assert grep.template_may_contain(tpl, line[:j], anchored=True, free=free)
    assert grep.template_may_contain(tpl, flipped, flags=re.IGNORECASE, free=free)


@pytest.mark.parametrize("tpl,lit,anchored,free,want", [
    (T("user ", "*", " logged in"), "session", False, {0: {"root", "bob"}}, False),
    (T("user ", "*", " logged in"), "session", False, {0: {"root", "my session 1"}}, True),
    (T("user ", "*", " logged in"), "r bob lo", False, {0: {"root", "bob"}}, True),   # across both sides
    (T("user ", "*", " logged in"), "r bobby", False, {0: {"root", "bob"}}, False),
    (T("user ", "*", " logged in"), "user  logged", False, {0: {""}}, True),           # empty value
    (T("*", "ERROR x"), "ERROR", True, {0: {"", "ab"}}, True),                          # ...at the start
    (T("*", "ERROR x"), "ERROR", True, {0: {"ab"}}, False),
    (T("*", "ERROR x"), "abERR", True, {0: {"ab"}}, True),
    (T("a=", "*", " b=", "@0", "!"), "b=xyz!", False, {0: {"xyz", "q"}}, True),        # back-reference
    (T("a=", "*", " b=", "@0", "!"), "b=xy!", False, {0: {"xyz", "q"}}, False),
    (T("k=", "*", "/", "int"), "=zab/-7", False, {0: {"zab"}}, True),
    (T("k=", "*", "/", "int"), "=ab/x", False, {0: {"zab"}}, False),
    (T("k=", "*"), "zzzz", False, {}, True),                                             # values unknown
    (T("user ", "*", " logged in"), "oot logged", False, {0: {"rootrootroot"}}, True),   # long value's end
    (T("user ", "*", " logged in"), "oox logged", False, {0: {"rootrootroot"}}, False),
    (T("user ", "*", " logged in"), "er rootroot", False, {0: {"rootrootroot"}}, True),  # ...its start
    (T("*", "ERROR x"), "abcd", True, {0: {"abcdefgh", "x"}}, True),                     # anchored, long
    (T("*", "ERROR x"), "abce", True, {0: {"abcdefgh", "x"}}, False),
    (T("*", "ERROR x"), "FGHERR", False, {0: {"abcdefgh"}}, False),
])
def test_template_may_contain_free_values(tpl, lit, anchored, free, want):
    assert grep.template_may_contain(tpl, lit, anchored, 0, free) is want


@pytest.mark.parametrize("pattern,want", [
    ("error", ((("error", False),),)),
    ("(?i)ERROR", ((("ERROR", False),),)),
    ("error|fail", ((("error", False),), (("fail", False),))),
    ("((error|fail))", ((("error", False),), (("fail", False),))),
    ("x(error|fail)", ((("x", False),),)),
    ("^GET /a.*HTTP", ((("GET /a", True), ("HTTP", False)),)),
    ("a(bc)d", ((("abcd", False),),)),
    ("ab+c", ((("a", False), ("c", False)),)),
    (r"\Ablk_\d", ((("blk_", True),),)),
    ("(?m)^x", ((("x", False),),)),
    (".*", None), ("a|.*", None), ("[ab]", None),
    (b"\xffk", (((b"\xffk", False),),)),
])
def test_regex_requirements(pattern, want):
    got = grep.regex_requirements(re.compile(pattern))
    assert (None if got is None else got[0]) == want
    if "(?i)" in str(pattern):
        assert got[1] & re.IGNORECASE
