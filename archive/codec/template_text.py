"""The text of final templates: parsing, naming and rendering their placeholders.

A final template (what the dictionary of a ``template`` payload stores, see
:mod:`archive.codec.templates`) is static text with two-character placeholders, a type
character and a parameter character (the table of :mod:`archive.codec.logparse`).  The
parsers raise ``ValueError`` on a malformed template; callers that read a payload turn it
into :class:`~archive.errors.CorruptChunkError`.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from archive.codec.logparse import (
    BYTES_OPS,
    MAX_WIDTH,
    PARAM_BASE,
    PH_DSTR,
    PH_HEX,
    PH_HEXU,
    PH_INT,
    PH_REF,
    PH_STR,
    STR_OPS,
    Ops,
)

__all__ = [
    "ParsedTemplate",
    "parse_template",
    "parsed_template",
    "placeholder_names",
    "render_template",
    "split_template",
]

_NAMES = {PH_INT: "int", PH_HEX: "hex", PH_HEXU: "hex", PH_STR: "*", PH_DSTR: "int"}


class ParsedTemplate(NamedTuple):
    """A final template taken apart: ``statics`` has one more item than ``phs``, each
    placeholder ``(type, param)``; ``static_len`` is the length of all its static text."""

    statics: tuple
    phs: tuple[tuple[str, int], ...]
    static_len: int


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


@lru_cache(maxsize=1 << 14)
def parsed_template(t: str | bytes) -> ParsedTemplate:
    """:func:`parse_template` of a ``str`` or ``bytes`` template (its type picks the flavour),
    memoised: a pure function of the text, and a log's templates recur chunk after chunk
    (parsing them is most of what decoding a template chunk costs).  ``ValueError`` when
    malformed."""
    statics, phs = parse_template(t, BYTES_OPS if isinstance(t, bytes) else STR_OPS)
    return ParsedTemplate(tuple(statics), tuple(phs), sum(map(len, statics)))


def placeholder_names(phs: tuple[tuple[str, int], ...]) -> list[str]:
    """``"int"``, ``"hex"`` or ``"*"`` per placeholder; a back-reference is named after its
    target."""
    names: list[str] = []
    for typ, p in phs:
        names.append(names[p] if typ == PH_REF else _NAMES[typ])
    return names


def split_template(t: str | bytes | bytearray) -> tuple[list, list[str]]:
    """``(static_segments, placeholder_names)`` of a template (one more segment than names),
    named as :func:`placeholder_names` does; ``ValueError`` when malformed."""
    parsed = parsed_template(bytes(t) if isinstance(t, bytearray) else t)
    return list(parsed.statics), placeholder_names(parsed.phs)


def render_template(t: str | bytes | bytearray) -> str:
    """Human-readable template: ``<int>``, ``<hex>``, ``<ip>``, ``<ts>``, ``<*>`` placeholders.

    Bytes templates (non-UTF-8 lines) are shown with undecodable bytes as ``\\xNN`` escapes.
    """
    statics, names = split_template(t)
    out = []
    for s, name in zip(statics, [f"<{n}>" for n in names] + [""]):
        if isinstance(s, bytes):
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
    """A substitution keeping a match unless it holds an ``<int>`` placeholder."""
    return lambda m: name if "<int>" in m.group() else m.group()
