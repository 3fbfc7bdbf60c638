"""Lexer and recursive-descent parser of the ``where`` language (grammar in the package docstring).

Every syntax error is a :class:`~archive.errors.QuerySyntaxError` whose message names the
column and shows the offending line with a caret under it; the exception also carries
``position`` (0-based offset into the text), ``column`` (1-based), ``text`` and ``reason``.
"""
from __future__ import annotations

import re
from typing import Any, NamedTuple, NoReturn

from archive.errors import QuerySyntaxError
from archive.query.expr import And, Expr, Not, Or
from archive.query.predicates import Compare, Contains, Exists, In, Matches, StartsWith
from archive.query.values import FLIP, KEYWORDS, ROOT, format_path

# Token kinds.
IDENT, BQ, NUM, STR, BYTES, OP, LPAREN, RPAREN, LBRACK, RBRACK, COMMA, DOT, EOF, DOLLAR = (
    "identifier", "quoted key", "number", "string", "bytes", "operator",
    "'('", "')'", "'['", "']'", "','", "'.'", "end of input", "'$'",
)


class Tok(NamedTuple):
    kind: str
    value: Any
    pos: int
    end: int


_WS = re.compile(r"\s+")
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUM_RE = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_OPS = ("==", "!=", "<=", ">=", "<", ">")
_PUNCT = {"(": LPAREN, ")": RPAREN, "[": LBRACK, "]": RBRACK, ",": COMMA}
_SIMPLE_ESCAPES = {
    "\\": "\\", "'": "'", '"': '"', "/": "/", "n": "\n", "r": "\r", "t": "\t",
    "b": "\b", "f": "\f", "0": "\0",
}
_HEX_LEN = {"x": 2, "u": 4, "U": 8}


def syntax_error(text: str, pos: int, reason: str) -> QuerySyntaxError:
    """A QuerySyntaxError for ``text`` pointing at offset ``pos``."""
    pos = max(0, min(pos, len(text)))
    start = text.rfind("\n", 0, pos) + 1
    stop = text.find("\n", pos)
    line = text[start:] if stop < 0 else text[start:stop]
    col = pos - start
    where = f"column {col + 1}"
    if "\n" in text:
        where = f"line {text.count(chr(10), 0, pos) + 1}, {where}"
    pad = "".join("\t" if c == "\t" else " " for c in line[:col])
    err = QuerySyntaxError(f"{reason} at {where}\n    {line}\n    {pad}^")
    # Where the error is, for callers that want more than the message.
    err.position, err.column, err.text, err.reason = pos, col + 1, text, reason  # type: ignore[attr-defined]
    return err


def tokenize(text: str) -> list[Tok]:
    toks: list[Tok] = []
    i, n = 0, len(text)
    while True:
        m = _WS.match(text, i)
        if m:
            i = m.end()
        if i >= n:
            toks.append(Tok(EOF, None, n, n))
            return toks
        c = text[i]
        after_key = bool(toks) and toks[-1].kind in (IDENT, BQ)
        if c in _PUNCT:
            toks.append(Tok(_PUNCT[c], c, i, i + 1))
            i += 1
        elif c == "$":
            toks.append(Tok(DOLLAR, c, i, i + 1))
            i += 1
        elif c == "." and (after_key or not text[i + 1:i + 2].isdigit()):
            toks.append(Tok(DOT, c, i, i + 1))
            i += 1
        elif c == "`":
            key, j = _backquoted(text, i)
            toks.append(Tok(BQ, key, i, j))
            i = j
        elif c in "'\"" or (c in "bB" and text[i + 1:i + 2] in ("'", '"')):
            value, j = _quoted(text, i)
            toks.append(Tok(BYTES if isinstance(value, bytes) else STR, value, i, j))
            i = j
        elif c.isdigit() or c in "-.":
            m = _NUM_RE.match(text, i)
            if m is None or not any(ch.isdigit() for ch in m.group()):
                raise syntax_error(text, i, f"unexpected character {c!r}")
            j = m.end()
            if j < n and (text[j].isalnum() or text[j] in "_.`"):
                raise syntax_error(text, i, f"malformed number {text[i:j + 1]!r}")
            s = m.group()
            try:
                number = float(s) if any(ch in s for ch in ".eE") else int(s)
            except ValueError:  # int max str digits
                raise syntax_error(text, i, "integer literal too long") from None
            toks.append(Tok(NUM, number, i, j))
            i = j
        elif (m := _IDENT_RE.match(text, i)) is not None:
            toks.append(Tok(IDENT, m.group(), i, m.end()))
            i = m.end()
        else:
            op = next((o for o in _OPS if text.startswith(o, i)), None)
            if op is None:
                if c == "=":
                    raise syntax_error(text, i, "unexpected '=': use '==' to compare")
                if c == "!":
                    raise syntax_error(text, i, "unexpected '!': use 'not' or '!='")
                raise syntax_error(text, i, f"unexpected character {c!r}")
            toks.append(Tok(OP, op, i, i + len(op)))
            i += len(op)


def _backquoted(text: str, start: int) -> tuple[str, int]:
    """A backquoted key starting at ``start``; a doubled backquote stands for one."""
    out, i = [], start + 1
    while True:
        j = text.find("`", i)
        if j < 0:
            raise syntax_error(text, start, "unclosed backquoted key")
        out.append(text[i:j])
        if text.startswith("``", j):
            out.append("`")
            i = j + 2
        else:
            return "".join(out), j + 1


def _quoted(text: str, start: int) -> tuple[str | bytes, int]:
    """A string (or ``b"..."`` bytes) literal starting at ``start``; returns (value, end)."""
    is_bytes = text[start] in "bB"
    i = start + 1 if is_bytes else start
    quote = text[i]
    i += 1
    out: list[str] = []
    n = len(text)
    while True:
        if i >= n:
            raise syntax_error(text, start, "unclosed string literal")
        c = text[i]
        if c == quote:
            i += 1
            break
        if c != "\\":
            if is_bytes and ord(c) > 0x7F:
                raise syntax_error(text, i, "non-ASCII character in a bytes literal: use \\xHH")
            out.append(c)
            i += 1
            continue
        e = text[i + 1:i + 2]
        if e in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[e])
            i += 2
        elif e in _HEX_LEN and not (is_bytes and e != "x"):
            digits = text[i + 2:i + 2 + _HEX_LEN[e]]
            if len(digits) != _HEX_LEN[e] or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise syntax_error(text, i, f"bad escape: \\{e} needs {_HEX_LEN[e]} hex digits")
            code = int(digits, 16)
            if code > 0x10FFFF:
                raise syntax_error(text, i, "bad escape: code point beyond U+10FFFF")
            i += 2 + _HEX_LEN[e]
            if e == "u" and 0xD800 <= code < 0xDC00 and re.match(r"\\u[dD][c-fC-F][0-9a-fA-F]{2}", text[i:i + 6]):
                code = 0x10000 + ((code - 0xD800) << 10) + (int(text[i + 2:i + 6], 16) - 0xDC00)
                i += 6  # a JSON-style surrogate pair
            out.append(chr(code))
        elif e == "":
            raise syntax_error(text, start, "unclosed string literal")
        else:
            raise syntax_error(text, i, f"unknown escape \\{e}")
    s = "".join(out)
    return (s.encode("latin-1") if is_bytes else s), i


def _kw(t: Tok, *words: str) -> bool:
    return t.kind == IDENT and t.value.lower() in words


def _describe(t: Tok) -> str:
    if t.kind == EOF:
        return "end of input"
    if t.kind == IDENT:
        return f"keyword {t.value!r}" if t.value.lower() in KEYWORDS else f"{t.value!r}"
    if t.kind in (NUM, STR, BYTES):
        return f"{t.kind} literal"
    if t.kind == BQ:
        return "quoted key"
    if t.kind == DOLLAR:
        return "root path '$'"
    return repr(t.value)


_PREDICATE_WORDS = "==, !=, <, <=, >, >=, in, startswith, contains, matches"


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = tokenize(text)
        self.i = 0

    def peek(self) -> Tok:
        return self.toks[self.i]

    def next(self) -> Tok:
        t = self.toks[self.i]
        if t.kind != EOF:
            self.i += 1
        return t

    def fail(self, t: Tok | int, reason: str) -> NoReturn:
        raise syntax_error(self.text, t if isinstance(t, int) else t.pos, reason)

    # expr := and ("or" and)* ; and := not ("and" not)* ; not := "not" not | atom
    def parse(self) -> Expr:
        if self.peek().kind == EOF:
            self.fail(self.peek(), "empty expression")
        e = self.parse_or()
        t = self.peek()
        if t.kind == RPAREN:
            self.fail(t, "unmatched ')'")
        if t.kind != EOF:
            self.fail(t, f"unexpected {_describe(t)} after a complete condition (missing 'and'/'or'?)")
        return e

    def parse_or(self, after: str = "") -> Expr:
        items = [self.parse_and(after)]
        while _kw(self.peek(), "or"):
            self.next()
            items.append(self.parse_and("after 'or'"))
        return items[0] if len(items) == 1 else Or(items)

    def parse_and(self, after: str) -> Expr:
        items = [self.parse_not(after)]
        while _kw(self.peek(), "and"):
            self.next()
            items.append(self.parse_not("after 'and'"))
        return items[0] if len(items) == 1 else And(items)

    def parse_not(self, after: str) -> Expr:
        if _kw(self.peek(), "not"):
            self.next()
            return Not(self.parse_not("after 'not'"))
        return self.parse_atom(after)

    def parse_atom(self, after: str) -> Expr:
        t = self.peek()
        if t.kind == LPAREN:
            self.next()
            e = self.parse_or("after '('")
            close = self.peek()
            if close.kind == RPAREN:
                self.next()
                return e
            if close.kind == EOF:
                self.fail(t, "unclosed '('")
            self.fail(close, f"expected ')' to close the '(' at column {t.pos + 1}, found {_describe(close)}")
        if _kw(t, "exists"):
            self.next()
            return Exists(self.parse_path("after 'exists'"))
        if self.at_literal():
            lit = self.parse_literal("")
            op = self.peek()
            if op.kind != OP:
                self.fail(op, f"expected a comparison operator after the literal, found {_describe(op)}")
            self.next()
            if self.at_literal():
                self.fail(self.peek(), "a comparison needs a path on one side")
            return Compare(self.parse_path(f"after '{op.value}'"), FLIP[op.value], lit)
        if self.at_path():
            return self.parse_predicate(self.parse_path(""))
        where = f" {after}" if after else ""
        if t.kind == EOF:
            self.fail(t, f"missing operand{where}: expected a condition")
        self.fail(t, f"expected a condition{where}, found {_describe(t)}")

    def at_literal(self) -> bool:
        t = self.peek()
        return t.kind in (NUM, STR, BYTES) or _kw(t, "true", "false", "null")

    def at_path(self) -> bool:
        t = self.peek()
        return t.kind in (BQ, DOLLAR) or (t.kind == IDENT and t.value.lower() not in KEYWORDS)

    def parse_literal(self, what: str) -> Any:
        t = self.peek()
        if t.kind in (NUM, STR, BYTES):
            self.next()
            return t.value
        if _kw(t, "true", "false", "null"):
            self.next()
            return {"true": True, "false": False, "null": None}[t.value.lower()]
        if t.kind == EOF:
            self.fail(t, f"missing {what or 'literal'}")
        if self.at_path():
            shown = "$" if t.kind == DOLLAR else repr(t.value)
            self.fail(t, f"expected {what or 'a literal'}, found path {shown} "
                         "(comparing two paths is not supported)")
        self.fail(t, f"expected {what or 'a literal'}, found {_describe(t)}")

    def parse_path(self, after: str) -> tuple[str, ...]:
        if not self.at_path():
            t = self.peek()
            self.fail(t, f"expected a path {after}, found {_describe(t)}".replace("  ", " "))
        if self.peek().kind == DOLLAR:
            self.next()
            t = self.peek()
            if t.kind == DOT:
                self.fail(t, "the root path '$' takes no keys: write a.b, not $.a.b")
            return ROOT
        keys = [self.next().value]
        while self.peek().kind == DOT:
            self.next()
            t = self.peek()
            if t.kind not in (IDENT, BQ):
                self.fail(t, f"expected a key after '.', found {_describe(t)}")
            keys.append(self.next().value)
        return tuple(keys)

    def parse_predicate(self, path: tuple[str, ...]) -> Expr:
        t = self.peek()
        if t.kind == OP:
            self.next()
            return Compare(path, t.value, self.parse_literal(f"a literal after '{t.value}'"))
        if _kw(t, "in"):
            self.next()
            return In(path, self.parse_list())
        if _kw(t, "startswith", "contains", "matches"):
            self.next()
            word = t.value.lower()
            lit_tok = self.peek()
            lit = self.parse_literal(f"a literal after '{word}'")
            if word == "contains":
                return Contains(path, lit)
            if not isinstance(lit, (str, bytes)):
                self.fail(lit_tok, f"'{word}' needs a string or bytes literal")
            if word == "startswith":
                return StartsWith(path, lit)
            try:
                return Matches(path, lit)
            except re.error as e:
                self.fail(lit_tok, f"invalid regular expression: {e.msg}")
        shown = format_path(path)
        if _kw(t, "exists"):
            self.fail(t, f"write 'exists {shown}': 'exists' comes before the path")
        if _kw(t, "not"):
            self.fail(t, "'not' goes before a whole condition, e.g. 'not x in [1, 2]'")
        if t.kind == EOF:
            self.fail(t, f"missing operator after path {shown} (expected one of {_PREDICATE_WORDS})")
        self.fail(t, f"expected an operator after path {shown} ({_PREDICATE_WORDS}), found {_describe(t)}")

    def parse_list(self) -> list[Any]:
        open_ = self.peek()
        if open_.kind != LBRACK:
            self.fail(open_, f"expected '[' after 'in', found {_describe(open_)}")
        self.next()
        items: list[Any] = []
        while True:
            t = self.peek()
            if t.kind == RBRACK:
                self.next()
                return items
            if t.kind == EOF:
                self.fail(open_, "unclosed '['")
            items.append(self.parse_literal("a literal in the list"))
            t = self.peek()
            if t.kind == COMMA:
                self.next()
            elif t.kind == EOF:
                self.fail(open_, "unclosed '['")
            elif t.kind != RBRACK:
                self.fail(t, f"expected ',' or ']' in the list, found {_describe(t)}")


def parse(text: str) -> Expr:
    """Parse a ``where`` expression; raises QuerySyntaxError pointing at the bad column."""
    if not isinstance(text, str):
        raise TypeError(f"where must be a str, not {type(text).__name__}")
    return _Parser(text).parse()
