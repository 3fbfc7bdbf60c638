"""archive.codec.template_text against a plain-Python model of final templates."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive.codec.logparse import (
    MAX_WIDTH,
    PARAM_BASE,
    PH_DSTR,
    PH_HEX,
    PH_HEXU,
    PH_INT,
    PH_REF,
    PH_STR,
)
from archive.codec.template_text import (
    parsed_template,
    placeholder_names,
    split_template,
)

_TYPES = {PH_INT: "int", PH_HEX: "hex", PH_HEXU: "hex", PH_STR: "*", PH_DSTR: "int"}
_static = st.text(st.characters(blacklist_characters="".join(map(chr, range(0x10, 0x18))),
                                blacklist_categories=("Cs",)), max_size=6)


@st.composite
def _templates(draw):
    """``(template, statics, names, static_len)`` of a well-formed template, per the model."""
    n = draw(st.integers(0, 6))
    statics = [draw(_static) for _ in range(n + 1)]
    text, names = statics[0], []
    for j in range(n):
        typ = draw(st.sampled_from(sorted(_TYPES) + ([PH_REF] if j else [])))
        targets = [i for i in range(j) if names[i][1] != PH_REF]
        if typ == PH_REF and not targets:
            typ = PH_STR
        if typ == PH_REF:
            p = draw(st.sampled_from(targets))
            names.append((names[p][0], PH_REF))
        else:
            p = 0 if typ in (PH_STR, PH_DSTR) else draw(st.integers(1, MAX_WIDTH))
            names.append((_TYPES[typ], typ))
        text += typ + chr(PARAM_BASE + p) + statics[j + 1]
    return text, statics, [name for name, _ in names], sum(map(len, statics))


@given(_templates())
def test_split_and_parse_follow_the_model(case):
    text, statics, names, static_len = case
    assert split_template(text) == (statics, names)
    parsed = parsed_template(text)
    assert placeholder_names(parsed.phs) == names
    assert parsed.static_len == static_len
    raw = text.encode("utf-8", "surrogatepass")
    expect = [s.encode("utf-8", "surrogatepass") for s in statics]
    assert split_template(raw) == split_template(bytearray(raw)) == (expect, names)


@pytest.mark.parametrize("bad", ["a\x10b", "x\x15\x30", "\x11\x30", f"\x11{chr(PARAM_BASE + 21)}",
                                 "\x14\x31", "\x11\x31\x15\x31"])
def test_malformed_templates_raise_value_error(bad):
    for t in (bad, bad.encode()):
        with pytest.raises(ValueError):
            parsed_template(t)
