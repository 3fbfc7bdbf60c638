"""The ``where`` language, text side: parsing into node trees, literals, canonical text that
parses back, constructor validation, and syntax errors with their positions.

Evaluation, typed columns and pruning are tested in ``test_where.py``; property-based
agreement and soundness tests live in ``test_where_props.py``.
"""
import math

import numpy as np
import pytest

from archive.errors import ArchiveError, QuerySyntaxError
from archive.query import (
    And,
    Compare,
    Contains,
    Exists,
    In,
    Matches,
    Not,
    Or,
    StartsWith,
    parse,
)

X = ("x",)


def cmp(path, op, v):
    return Compare(tuple(path.split(".")), op, v)


# ----------------------------------------------------------------------------- parsing

@pytest.mark.parametrize("text, expected", [
    ("a == 1 or b == 2 and not c == 3",
     Or([cmp("a", "==", 1), And([cmp("b", "==", 2), Not(cmp("c", "==", 3))])])),
    ("(a == 1 or b == 2) and c == 3",
     And([Or([cmp("a", "==", 1), cmp("b", "==", 2)]), cmp("c", "==", 3)])),
    ("not a == 1 and b == 2", And([Not(cmp("a", "==", 1)), cmp("b", "==", 2)])),
    ("not not a == 1", Not(Not(cmp("a", "==", 1)))),
    ("not (a == 1 or b == 2)", Not(Or([cmp("a", "==", 1), cmp("b", "==", 2)]))),
    ("a == 1 AND b == 2 Or NOT c == 3",
     Or([And([cmp("a", "==", 1), cmp("b", "==", 2)]), Not(cmp("c", "==", 3))])),
    ("a==1 and b==2 and c==3", And([cmp("a", "==", 1), cmp("b", "==", 2), cmp("c", "==", 3)])),
    ("((a == 1))", cmp("a", "==", 1)),
    ("`id.resp_p` == 443", Compare(("id.resp_p",), "==", 443)),
    ("a.`b.c`.d != 'x'", Compare(("a", "b.c", "d"), "!=", "x")),
    ("`a``b`.c < 1", Compare(("a`b", "c"), "<", 1)),
    ("`` == 1", Compare(("",), "==", 1)),
    ("```` == 1", Compare(("`",), "==", 1)),
    ("`null` == null", Compare(("null",), "==", None)),
    ("a.in.AND == TRUE", Compare(("a", "in", "AND"), "==", True)),
    ("a . b == False", Compare(("a", "b"), "==", False)),
    ("443 == port", cmp("port", "==", 443)),
    ("5 < x", cmp("x", ">", 5)),
    ("5 <= x", cmp("x", ">=", 5)),
    ("'a' > x", cmp("x", "<", "a")),
    ("null != x", cmp("x", "!=", None)),
    ("x in [1, 'a', null, true, 2.5,]", In(X, [1, "a", None, True, 2.5])),
    ("x IN []", In(X, [])),
    ("x startswith 'ab'", StartsWith(X, "ab")),
    ("x STARTSWITH b'ab'", StartsWith(X, b"ab")),
    ("x contains 3", Contains(X, 3)),
    ("x contains null", Contains(X, None)),
    ("x matches '^a+$'", Matches(X, "^a+$")),
    ("exists a.b", Exists(("a", "b"))),
    ("EXISTS `a.b`", Exists(("a.b",))),
    ("not exists x and x == 1", And([Not(Exists(X)), cmp("x", "==", 1)])),
])
def test_parse_structure(text, expected):
    e = parse(text)
    assert e == expected
    assert parse(str(e)) == e


@pytest.mark.parametrize("text, value", [
    ("123456789012345678901234567890", 123456789012345678901234567890),
    ("-12", -12),
    ("0", 0),
    ("1.5", 1.5),
    ("-0.0", -0.0),
    ("2e3", 2000.0),
    ("-2.5E-3", -0.0025),
    (".5", 0.5),
    ("-.5", -0.5),
    ("1.", 1.0),
    ("1e999", math.inf),
    ("-1e999", -math.inf),
    (r"'a\'b\"c'", "a'b\"c"),
    (r'"\\ \/ \n \r \t \b \f \0"', "\\ / \n \r \t \b \f \0"),
    (r'"\x41\u00e9\U0001F600"', "Aé\U0001F600"),
    (r'"\ud83d\ude00"', "\U0001F600"),
    (r'"\ud83d"', "\ud83d"),
    ("'é`\"'", "é`\""),
    (r"b'a\x00\xff\n'", b"a\x00\xff\n"),
    ("B\"\"", b""),
    ("tRuE", True),
    ("FALSE", False),
    ("Null", None),
])
def test_literals(text, value):
    e = parse(f"x == {text}")
    assert type(e.value) is type(value)
    if isinstance(value, float):
        assert math.copysign(1, e.value) == math.copysign(1, value) and e.value == value
    else:
        assert e.value == value
    assert parse(str(e)) == e


def test_paths_first_use_order_no_duplicates():
    e = parse("b == 1 and (a.c == 2 or b > 0) and not exists `a.c` or a.c == 3 or exists z")
    assert e.paths == (("b",), ("a", "c"), ("a.c",), ("z",))
    assert parse("x == 1").paths == (X,)


def test_equality_is_type_exact_and_hashable():
    assert parse("x == 1") != parse("x == true")
    assert parse("x == 1") != parse("x == 1.0")
    assert parse("x == 0.0") != parse("x == -0.0")
    assert parse("x == 1") == parse("1 == x")
    assert len({parse("x == 1"), parse("x == true"), parse("X == 1"), parse("1 == x")}) == 3
    assert parse("a == 1 and b == 2") != parse("a == 1 or b == 2")
    e = parse("x == 1")
    with pytest.raises(AttributeError):
        e.op = "<"


@pytest.mark.parametrize("text", [
    "x == \"a\\\"b`\\n\\x00\\u0001é\"",
    "`a b`.`c``d`.e in [1, -2.5, 1e999, null, b\"\\xff\"]",
    "not (a == 1 or b == 2) and not not c == 3 or (d == 4 and e == 5)",
    "((a == 1 and b == 2) and c == 3)",
    "(a == 1 or b == 2) or c == 3",
    "`true` == true and `In`.in == 1",
    "x matches \"\\\\d+\\\\.\"",
])
def test_str_round_trip(text):
    e = parse(text)
    assert parse(str(e)) == e
    assert str(parse(str(e))) == str(e)
    assert eval(repr(e), {"parse": parse}) == e


def test_constructor_validation():
    with pytest.raises(TypeError):
        Compare((), "==", 1)
    with pytest.raises(TypeError):
        Compare(("x",), "==", [1])
    with pytest.raises(TypeError):
        Compare(("x",), "==", float("nan"))
    with pytest.raises(ValueError):
        Compare(("x",), "=", 1)
    with pytest.raises(TypeError):
        StartsWith(("x",), 1)
    with pytest.raises(TypeError):
        And([Exists(X)])
    assert Compare(["x"], "==", np.int64(3)) == parse("x == 3")


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("text, column, fragment", [
    ("", 1, "empty expression"),
    ("   ", 4, "empty expression"),
    ("x ==", 5, "missing a literal after '=='"),
    ("x == 1 y", 8, "unexpected 'y' after a complete condition"),
    ("x == 1 x == 2", 8, "missing 'and'/'or'"),
    ("x == 'it''s'", 10, "unexpected string literal after a complete condition"),
    ("x == 1)", 7, "unmatched ')'"),
    ("(x == 1", 1, "unclosed '('"),
    ("x == 1 and (y == 2", 12, "unclosed '('"),
    ("(x == 1 y", 9, "expected ')'"),
    ("()", 2, "expected a condition after '('"),
    ("x == 'abc", 6, "unclosed string literal"),
    ("x == \"ab\\", 6, "unclosed string literal"),
    ("x == 'a\\qb'", 8, "unknown escape \\q"),
    ("x == '\\u12'", 7, "needs 4 hex digits"),
    ("x == '\\U00110000'", 7, "beyond U+10FFFF"),
    ("x == b'é'", 8, "non-ASCII character in a bytes literal"),
    ("x == b'\\u0041'", 8, "unknown escape \\u"),
    ("a.`b", 3, "unclosed backquoted key"),
    ("x in [1, 2", 6, "unclosed '['"),
    ("x in [1, 2,", 6, "unclosed '['"),
    ("x in [1 2]", 9, "expected ',' or ']'"),
    ("x in [1,,2]", 9, "expected a literal in the list"),
    ("x in [y]", 7, "comparing two paths"),
    ("x in 1", 6, "expected '[' after 'in'"),
    ("x = 1", 3, "use '=='"),
    ("x ! 1", 3, "use 'not' or '!='"),
    ("x @ 1", 3, "unexpected character '@'"),
    ("x == --1", 6, "unexpected character '-'"),
    ("x == 1.2.3", 6, "malformed number"),
    ("12abc == x", 1, "malformed number"),
    ("x == 0x10", 6, "malformed number"),
    ("and x == 1", 1, "expected a condition, found keyword 'and'"),
    ("x == 1 and", 11, "missing operand after 'and'"),
    ("x == 1 or or y == 2", 11, "after 'or', found keyword 'or'"),
    ("not", 4, "missing operand after 'not'"),
    ("x exists", 3, "write 'exists x'"),
    ("exists", 7, "expected a path after 'exists'"),
    ("exists 1", 8, "expected a path after 'exists'"),
    ("x not in [1]", 3, "'not' goes before a whole condition"),
    ("x.", 3, "expected a key after '.'"),
    ("x.1 == 2", 3, "expected a key after '.'"),
    ("x == y", 6, "comparing two paths"),
    ("1 == 2", 6, "needs a path on one side"),
    ("1 and x", 3, "expected a comparison operator after the literal"),
    ("x", 2, "missing operator after path x"),
    ("`a.b` 5", 7, "expected an operator after path `a.b`"),
    ("x startswith 1", 14, "'startswith' needs a string or bytes literal"),
    ("x matches 5", 11, "'matches' needs a string or bytes literal"),
    ("x matches '('", 11, "invalid regular expression"),
    ("x startswith", 13, "missing a literal after 'startswith'"),
    ("null == null", 9, "needs a path on one side"),
    ("true", 5, "expected a comparison operator"),
    ("x == é", 6, "unexpected character 'é'"),
    ("x == 1" + "0" * 5000, 6, "integer literal too long"),
])
def test_syntax_errors(text, column, fragment):
    with pytest.raises(QuerySyntaxError) as info:
        parse(text)
    err = info.value
    msg = str(err)
    assert fragment in msg, msg
    assert f"at column {column}\n" in msg, msg
    assert err.column == column and err.position == column - 1 and err.text == text
    # The message shows the text and a caret under the offending column.
    shown, caret = msg.split("\n")[1:3]
    assert shown == "    " + text
    assert caret == "    " + " " * (column - 1) + "^"


def test_syntax_error_is_value_error_and_archive_error():
    with pytest.raises(ValueError):
        parse("x ==")
    with pytest.raises(ArchiveError):
        parse("x ==")
    with pytest.raises(TypeError):
        parse(b"x == 1")  # type: ignore[arg-type]


def test_syntax_error_multiline_and_tabs():
    with pytest.raises(QuerySyntaxError) as info:
        parse("x == 1 and\n\ty == ")
    msg = str(info.value)
    assert "at line 2, column 7" in msg
    assert msg.endswith("    \ty == \n    \t     ^")
