"""Values and the typed, JSON-like semantics of one comparison on one value.

Everything here works on single Python values; it is the *model* the vectorized evaluator in
:mod:`archive.query.evaluate` must agree with (``Expr.matches`` is built on it).
"""
from __future__ import annotations

import math
import operator
import re
from typing import Any, Final

import numpy as np


class _Missing:
    """The type of :data:`MISSING`: a path absent from a record (distinct from JSON null)."""

    __slots__ = ()
    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:  # noqa: PYI034 (a singleton)
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> tuple[type, tuple[()]]:
        return (_Missing, ())

    def __copy__(self) -> _Missing:
        return self

    def __deepcopy__(self, memo: dict) -> _Missing:
        return self


#: The value of a path that a record does not have. A singleton: test it with ``is``.
MISSING: Final = _Missing()

# Kind codes (small ints, so object columns can carry an int8 array of them).
K_MISSING, K_NULL, K_BOOL, K_INT, K_FLOAT, K_STR, K_BYTES, K_LIST, K_DICT, K_OTHER = range(10)
KIND_NAMES: Final = ("missing", "null", "bool", "int", "float", "str", "bytes", "list", "dict", "other")
KIND_CODES: Final = {name: code for code, name in enumerate(KIND_NAMES)}
NUMERIC: Final = frozenset((K_INT, K_FLOAT))


class _TypeKinds(dict):
    """Exact Python type -> kind code; unknown types answer -1 (then :func:`slow_kind` decides)."""

    def __missing__(self, key: type) -> int:
        return -1


TYPE_KIND: Final = _TypeKinds({
    _Missing: K_MISSING, type(None): K_NULL, bool: K_BOOL, int: K_INT, float: K_FLOAT,
    str: K_STR, bytes: K_BYTES, list: K_LIST, dict: K_DICT,
})


def slow_kind(v: Any) -> int:
    """The kind of a value whose exact type is not a plain JSON-ish Python type."""
    if isinstance(v, (bool, np.bool_)):
        return K_BOOL
    if isinstance(v, (int, np.integer)):
        return K_INT
    if isinstance(v, (float, np.float16, np.float32)):
        return K_FLOAT
    if isinstance(v, str):
        return K_STR
    if isinstance(v, bytes):
        return K_BYTES
    if isinstance(v, list):
        return K_LIST
    if isinstance(v, dict):
        return K_DICT
    return K_OTHER


def kind_of(v: Any) -> int:
    k = TYPE_KIND[type(v)]
    return k if k >= 0 else slow_kind(v)


def normalize(v: Any) -> Any:
    """Plain Python value for numpy scalars (so comparisons are exact, like the typed path)."""
    return v.item() if isinstance(v, np.generic) else v


ORDER_OPS: Final = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
#: ``lit OP path`` is ``path FLIP[OP] lit``.
FLIP: Final = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
COMPARE_OPS: Final = tuple(FLIP)


def equals(v: Any, lit: Any) -> bool:
    """Typed equality: numbers with numbers, bool with bool, str with str, bytes with bytes,
    null with null; anything else (including MISSING, lists, dicts) is unequal."""
    vk, lk = kind_of(v), kind_of(lit)
    if vk == lk:
        if vk in (K_NULL, K_MISSING):
            return vk == K_NULL
        if vk in (K_LIST, K_DICT, K_OTHER):
            return False
        return bool(normalize(v) == lit)
    return vk in NUMERIC and lk in NUMERIC and bool(normalize(v) == lit)


def compare(v: Any, op: str, lit: Any) -> bool:
    """``v OP lit`` under the typed semantics (see the package docstring)."""
    if op == "==":
        return equals(v, lit)
    if op == "!=":
        return v is not MISSING and not equals(v, lit)
    vk, lk = kind_of(v), kind_of(lit)
    if (vk in NUMERIC and lk in NUMERIC) or (vk == lk and vk in (K_STR, K_BYTES)):
        return bool(ORDER_OPS[op](normalize(v), lit))
    return False


def one_of(v: Any, lits: tuple) -> bool:
    return any(equals(v, lit) for lit in lits)


def starts_with(v: Any, lit: str | bytes) -> bool:
    vk = kind_of(v)
    return vk == kind_of(lit) and vk in (K_STR, K_BYTES) and v.startswith(lit)


def contains(v: Any, lit: Any) -> bool:
    """Substring for str/bytes values (with a literal of the same kind); typed element
    membership for list values."""
    vk = kind_of(v)
    if vk == K_LIST:
        return any(equals(e, lit) for e in v)
    return vk == kind_of(lit) and vk in (K_STR, K_BYTES) and lit in v


def regex_kind(rx: re.Pattern) -> int:
    return K_BYTES if isinstance(rx.pattern, bytes) else K_STR


def search(v: Any, rx: re.Pattern) -> bool:
    return kind_of(v) == regex_kind(rx) and rx.search(v) is not None


class _RootPath(tuple):
    """The type of :data:`ROOT`: an empty path tuple that names the record itself."""

    __slots__ = ()

    def __new__(cls) -> _RootPath:  # noqa: PYI034 (a constant)
        return super().__new__(cls, ())

    def __repr__(self) -> str:
        return "ROOT"

    def __reduce__(self) -> tuple[type, tuple[()]]:
        return (_RootPath, ())


#: The root path, written ``$``: the record itself (a log line of a text archive).  It is an
#: empty tuple (``ROOT == ()``), so it reads the root values everywhere a path tuple is used;
#: the expression constructors accept it but refuse a plain ``()``, which is more likely a bug.
ROOT: Final = _RootPath()


def lookup(record: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` in a plain record, walking nested dicts; MISSING when absent."""
    cur = record
    for key in path:
        if not isinstance(cur, dict):
            return MISSING
        cur = cur.get(key, MISSING)
        if cur is MISSING:
            return MISSING
    return cur


# ----------------------------------------------------------------------------- rendering

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
KEYWORDS: Final = frozenset((
    "and", "or", "not", "in", "startswith", "contains", "matches", "exists", "true", "false", "null",
))
_STR_ESCAPES: Final = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def format_path(path: tuple[str, ...]) -> str:
    if not path:
        return "$"
    parts = []
    for i, key in enumerate(path):
        if _IDENT.match(key) and (i > 0 or key.lower() not in KEYWORDS):
            parts.append(key)
        else:
            parts.append("`" + key.replace("`", "``") + "`")
    return ".".join(parts)


def _format_str(s: str) -> str:
    out = []
    for c in s:
        o = ord(c)
        if c in _STR_ESCAPES:
            out.append(_STR_ESCAPES[c])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif 0xD800 <= o <= 0xDFFF:
            out.append(f"\\U{o:08x}")  # lone surrogate: never re-paired by the lexer
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _format_bytes(b: bytes) -> str:
    out = []
    for o in b:
        c = chr(o)
        if c in _STR_ESCAPES:
            out.append(_STR_ESCAPES[c])
        elif 0x20 <= o < 0x7F:
            out.append(c)
        else:
            out.append(f"\\x{o:02x}")
    return 'b"' + "".join(out) + '"'


def format_literal(v: Any) -> str:
    """Literal text that parses back to exactly ``v``."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            raise ValueError("NaN has no literal")
        if v in (float("inf"), float("-inf")):
            return "1e999" if v > 0 else "-1e999"
        return repr(v)
    if isinstance(v, str):
        return _format_str(v)
    if isinstance(v, bytes):
        return _format_bytes(v)
    raise TypeError(f"not a literal: {v!r}")
