"""The ``where`` language: parsing, error positions, semantic tables, typed columns, pruning.

Property-based agreement and soundness tests live in ``test_where_props.py``.
"""
import copy
import math
import pickle

import numpy as np
import pytest

from archive.errors import ArchiveError, QuerySyntaxError
from archive.query import (
    MISSING,
    And,
    Compare,
    Contains,
    Exists,
    In,
    Matches,
    Not,
    Or,
    PathStats,
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


# ----------------------------------------------------------------------------- semantics

def _column(values, typed=False):
    if typed:
        kinds = {type(v) for v in values}
        if kinds == {bool}:
            return np.array(values, dtype=bool)
        if kinds == {int}:
            return np.array(values, dtype=np.int64)
        if kinds == {float}:
            return np.array(values, dtype=np.float64)
        raise AssertionError(f"not typed: {values!r}")
    arr = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        arr[i] = v
    return arr


def check(text, value, expected):
    e = parse(text)
    record = {} if value is MISSING else {"x": value}
    assert e.matches(record) is expected, (text, value)
    assert e.evaluate({X: _column([value])}, 1).tolist() == [expected], (text, value)
    if type(value) in (bool, int, float) and not (type(value) is int and abs(value) >= 2**63):
        assert e.evaluate({X: _column([value], typed=True)}, 1).tolist() == [expected], (text, value)


@pytest.mark.parametrize("value, text, expected", [
    (1, "x == 1", True), (1.0, "x == 1", True), (1, "x == 1.0", True), (2, "x == 1", False),
    (True, "x == 1", False), (1, "x == true", False), (True, "x == true", True),
    (False, "x == 0", False), (0, "x == false", False), (False, "x == false", True),
    (True, "x > 0", False), (True, "x >= true", False), (True, "x != 1", True),
    (True, "x != true", False), ("1", "x == 1", False), ("1", "x != 1", True),
    (None, "x != 1", True), (MISSING, "x != 1", False), (MISSING, "not x == 1", True),
    (MISSING, "not x != 1", True), (None, "x == null", True), (MISSING, "x == null", False),
    (0, "x == null", False), ("", "x == null", False), (None, "x != null", False),
    (0, "x != null", True), (MISSING, "x != null", False), ([1], "x == 1", False),
    ([1], "x != 1", True), ({"a": 1}, "x != null", True), ({}, "x == null", False),
    (None, "x < 1", False), (None, "x <= null", False), (None, "x >= null", False),
    (False, "x < true", False), ("b", "x > 'a'", True), ("B", "x > 'a'", False),
    ("ab", "x >= 'ab'", True), ("a", "x < 'ab'", True), ("é", "x > 'z'", True),
    ("\U0001F600", "x > '\uffff'", True), (b"b", "x > 'a'", False), (b"b", "x > b'a'", True),
    (b"b", "x == 'b'", False), ("b", "x == b'b'", False), (b"\x00", "x < b'\\x01'", True),
    ("\x00", "x == '\\x00'", True), ("", "x == '\\x00'", False), ("a", "x < 'a\\x00'", True),
    (b"", "x == b'\\x00'", False), (b"\x00", "x == b'\\x00'", True), ("a\x00", "x > 'a'", True),
    ("\x00", "x in ['\\x00']", True), ("", "x in ['\\x00']", False),
    (2**53 + 1, "x == 9007199254740992.0", False), (2**53, "x == 9007199254740992.0", True),
    (2**53 + 1, "x > 9007199254740992.0", True), (2.0**53, "x < 9007199254740993", True),
    (2.0**53, "x == 9007199254740993", False), (3, "x < 3.5", True), (4, "x < 3.5", False),
    (2**80, "x > 1e20", True), (2**80, "x == 1208925819614629174706176", True),
    (2**80, "x < 1e999", True), (-(2**80), "x > -1e999", True), (1e300, "x < 10" + "0" * 400, True),
    (float("inf"), "x > 1" + "0" * 400, True), (float("inf"), "x == 1e999", True),
    (float("nan"), "x == 1", False), (float("nan"), "x != 1", True), (float("nan"), "x < 1", False),
    (float("nan"), "x >= 1", False), (-0.0, "x == 0", True), (0.0, "x == -0.0", True),
    (-0.0, "x < 0", False),
    # in
    (1, "x in [1, 'a']", True), (True, "x in [1]", False), (1, "x in [true]", False),
    (None, "x in [null]", True), (MISSING, "x in [null]", False), (1.0, "x in [1]", True),
    (5, "x in []", False), ("a", "x in [1, 'a']", True), (b"a", "x in ['a']", False),
    (2**70, "x in [1, 1180591620717411303424]", True), (False, "x in [0, false]", True),
    (MISSING, "not x in [1]", True),
    # startswith / contains / matches
    ("abc", "x startswith 'ab'", True), ("abc", "x startswith ''", True),
    ("ab", "x startswith 'abc'", False), (b"abc", "x startswith 'ab'", False),
    (b"abc", "x startswith b'ab'", True), ("abc", "x startswith b'ab'", False),
    (["ab"], "x startswith 'a'", False), (5, "x startswith '5'", False),
    (MISSING, "x startswith ''", False), (None, "x startswith ''", False),
    ("xaby", "x contains 'ab'", True), ("xay", "x contains 'ab'", False), ("", "x contains ''", True),
    (["ab", 1], "x contains 'ab'", True), (["abc"], "x contains 'ab'", False),
    ([1, True], "x contains 1", True), ([True], "x contains 1", False),
    ([1], "x contains true", False), ([1.0], "x contains 1", True), ([None], "x contains null", True),
    ([], "x contains null", False), ([[1]], "x contains 1", False), ([{"a": 1}], "x contains 'a'", False),
    ({"ab": 1}, "x contains 'ab'", False), (b"xaby", "x contains b'ab'", True),
    ("xaby", "x contains b'ab'", False), ([b"ab"], "x contains b'ab'", True),
    ([b"ab"], "x contains 'ab'", False), (5, "x contains 5", False), (12, "x contains '1'", False),
    ("GET /a", "x matches '^GET'", True), ("xGET", "x matches '^GET'", False),
    ("xGETy", "x matches 'GET'", True), ("aXb", "x matches 'x'", False),
    ("GET", "x matches '(?i)get'", True), (b"\x00a", "x matches b'\\x00'", True),
    ("\x00a", "x matches b'\\x00'", False), (b"a", "x matches 'a'", False),
    (5, "x matches '5'", False), (["a"], "x matches 'a'", False), ("line1\nline2", "x matches '^line2'", False),
    # exists / not
    (None, "exists x", True), (MISSING, "exists x", False), (0, "not exists x", False),
    (False, "exists x", True), ([], "exists x", True),
    (MISSING, "not x == 1 and not exists x", True), (1, "x == 1 and not x == 2", True),
    (1, "x == 2 or x == 1", True), (1, "not (x == 2 or x == 1)", False),
])
def test_semantics_table(value, text, expected):
    check(text, value, expected)


def test_nested_paths():
    rec = {"a": {"b": 1, "c.d": "x", "l": [{"b": 1}]}, "a.b": 2, "s": "str"}
    assert parse("a.b == 1").matches(rec)
    assert parse("`a.b` == 2").matches(rec)
    assert parse("a.`c.d` == 'x'").matches(rec)
    assert not parse("exists a.l.b").matches(rec)      # through a list: absent
    assert not parse("exists s.x").matches(rec)        # through a str: absent
    assert not parse("exists a.b.c").matches(rec)      # through an int: absent
    assert parse("not exists a.zz").matches(rec)
    assert parse("exists a").matches(rec) and parse("a != 1").matches(rec)
    assert not parse("exists a.b").matches({"a": None})


def test_missing_sentinel():
    assert repr(MISSING) == "MISSING"
    assert copy.copy(MISSING) is MISSING and copy.deepcopy(MISSING) is MISSING
    assert pickle.loads(pickle.dumps(MISSING)) is MISSING
    assert type(MISSING)() is MISSING
    assert not MISSING and MISSING is not None


# ----------------------------------------------------------------------------- typed columns

INT64_EDGES = [-(2**63), -(2**53) - 1, -3, -1, 0, 1, 2, 3, 2**53 + 1, 2**63 - 1]
NUMERIC_LITS = [2**63, 2**63 - 1, -(2**63), -(2**63) - 1, 2**70, -(2**70), 2.5, -2.5, 3.0, 2.0**63,
                -(2.0**63), 9.2e18, 1e19, -1e19, math.inf, -math.inf, 2**53 + 1, float(2**53 + 2),
                10**400, -(10**400), 0, -0.0]
OPS = ["==", "!=", "<", "<=", ">", ">="]
PY_OPS = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
          "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("lit", NUMERIC_LITS)
def test_int64_column_exact_against_any_literal(op, lit):
    e = Compare(X, op, lit)
    want = [PY_OPS[op](v, lit) for v in INT64_EDGES]  # Python's exact int/float comparisons
    for col in (np.array(INT64_EDGES, dtype=np.int64), _column(INT64_EDGES)):
        assert e.evaluate({X: col}, len(INT64_EDGES)).tolist() == want


FLOAT_EDGES = [-math.inf, -(2.0**63), -1e19, -2.5, -0.0, 0.0, 0.5, 3.0, 2.0**53, 2.0**53 + 2,
               2.0**63, 1.7976931348623157e308, math.inf, math.nan]


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("lit", NUMERIC_LITS + [2**53 + 3, 2**1024 - 1, 2**1024 - 2**970, 2**1024])
def test_float64_column_exact_against_any_literal(op, lit):
    e = Compare(X, op, lit)
    want = [PY_OPS[op](v, lit) for v in FLOAT_EDGES]
    for col in (np.array(FLOAT_EDGES), _column(FLOAT_EDGES)):
        assert e.evaluate({X: col}, len(FLOAT_EDGES)).tolist() == want


def test_x_below_2_pow_70_is_all_true_for_int64():
    col = np.array([np.iinfo(np.int64).min, 0, np.iinfo(np.int64).max], dtype=np.int64)
    assert parse(f"x < {2**70}").evaluate({X: col}, 3).all()
    assert not parse(f"x > {2**70}").evaluate({X: col}, 3).any()
    assert parse(f"x != {2**70}").evaluate({X: col}, 3).all()
    assert parse(f"x in [{2**70}, 0, 0.5, 9223372036854775807.0]").evaluate({X: col}, 3).tolist() == [False, True, False]


def test_other_typed_dtypes():
    u8 = np.array([0, 200, 255], dtype=np.uint8)
    assert parse("x > 199").evaluate({X: u8}, 3).tolist() == [False, True, True]
    assert parse("x < -1").evaluate({X: u8}, 3).tolist() == [False, False, False]
    assert parse("x in [-1, 255, 256]").evaluate({X: u8}, 3).tolist() == [False, False, True]
    f32 = np.array([0.1, 0.5], dtype=np.float32)
    assert parse("x == 0.1").evaluate({X: f32}, 2).tolist() == [False, False]  # float32(0.1) != 0.1
    assert parse("x == 0.5").evaluate({X: f32}, 2).tolist() == [False, True]
    u = np.array(["ab", "b"])
    assert parse("x startswith 'a'").evaluate({X: u}, 2).tolist() == [True, False]
    assert parse("x > 'a'").evaluate({X: ["ab", MISSING, 3]}, 3).tolist() == [True, False, False]


def test_bool_column():
    col = np.array([True, False])
    for text, want in [("x == 1", [False, False]), ("x == true", [True, False]),
                       ("x != 1", [True, True]), ("x != false", [True, False]),
                       ("x in [true, 1]", [True, False]), ("x in [true, false]", [True, True]),
                       ("x in [0, 1]", [False, False]), ("x > false", [False, False]),
                       ("x == null", [False, False]), ("exists x", [True, True]),
                       ("x contains true", [False, False]), ("not x == true", [False, True])]:
        assert parse(text).evaluate({X: col}, 2).tolist() == want, text
        assert parse(text).evaluate({X: _column(col.tolist())}, 2).tolist() == want, text


def test_evaluate_api_edges():
    e = parse("not exists x or x == 1")
    assert e.evaluate({}, 3).tolist() == [True, True, True]          # absent column: MISSING
    assert parse("x == 1").evaluate({}, 2).tolist() == [False, False]
    assert e.evaluate({X: np.array([], dtype=object)}, 0).shape == (0,)
    with pytest.raises(ValueError):
        e.evaluate({X: np.array([1, 2])}, 3)
    with pytest.raises(ValueError):
        e.evaluate({}, -1)
    col = np.array([True, False])
    out = parse("x == true").evaluate({X: col}, 2)
    out[:] = False
    assert col.tolist() == [True, False]                               # result never aliases input
    out = parse("exists x and x == true or x == 5").evaluate({X: col}, 2)
    assert out.dtype == bool and out.tolist() == [True, False]


def test_object_column_with_unusual_values():
    vals = [np.int64(5), np.float32(0.5), np.str_("ab"), (1, 2), 2**80, np.bool_(True), bytearray(b"x")]
    col = _column(vals)
    for text in ["x == 5", "x == 0.5", "x < 10", "x startswith 'a'", "x == true", "x != 1", "exists x",
                 "x == null", "x > 1e20", "x in [5, 0.5, 'ab', true]"]:
        e = parse(text)
        assert e.evaluate({X: col}, len(vals)).tolist() == [e.matches({"x": v}) for v in vals], text
    assert parse("x == 5").evaluate({X: col}, len(vals)).tolist()[0] is True


# ----------------------------------------------------------------------------- pruning

def S(kinds, lo=None, hi=None, count=10):
    return PathStats(count, frozenset(kinds.split()), lo or {}, hi or {})


INTS = S("int", {"int": 10}, {"int": 20})
STRS = S("str", {"str": "apple"}, {"str": "apricot"})
NULLISH = S("missing null")
BOOLS = S("bool")
FLOATS = S("float", {"float": 0.5}, {"float": 1.5})
SEVEN = S("int", {"int": 7}, {"int": 7})
MIXED = S("int float str", {"int": 0, "float": -1.0, "str": "m"}, {"int": 5, "float": 100.5, "str": "p"})


@pytest.mark.parametrize("stats, text, may", [
    (INTS, "x == 5", False), (INTS, "x == 15", True), (INTS, "x == 15.5", True), (INTS, "x == 20.0", True),
    (INTS, "x == 20.5", False), (INTS, "x < 10", False), (INTS, "x <= 10", True), (INTS, "x > 20", False),
    (INTS, "x >= 20", True), (INTS, "x == null", False), (INTS, "exists x", True),
    (INTS, "not exists x", False), (INTS, "x != 5", True), (INTS, "x in [1, 2, 30]", False),
    (INTS, "x in [1, 15]", True), (INTS, "x in []", False), (INTS, "x == '15'", False),
    (INTS, "x startswith 'a'", False), (INTS, "x contains 1", False), (INTS, "x matches '1'", False),
    (INTS, "not x >= 10", False), (INTS, "not x > 10", True), (INTS, "not x == 15", True),
    (INTS, "x == 5 or x == 15", True), (INTS, "x == 15 and x == 5", False),
    (INTS, "not (x < 5 or x > 30)", True), (INTS, "not (x >= 10 and x <= 20)", False),
    (INTS, "x != 'a'", True), (INTS, "not x != 'a'", False), (INTS, f"x > {2**70}", False),
    (INTS, "x < 1e999", True), (INTS, "x > 1e999", False), (INTS, "x == true", False),
    (SEVEN, "not x == 7", False), (SEVEN, "x != 7", False), (SEVEN, "x != 7.0", False),
    (SEVEN, "x != 8", True), (SEVEN, "not x in [7, 8]", False),
    (STRS, "x startswith 'ap'", True), (STRS, "x startswith 'b'", False),
    (STRS, "x startswith 'apq'", True), (STRS, "x startswith 'aq'", False),
    (STRS, "x startswith 'a'", True), (STRS, "not x startswith 'ap'", False),
    (STRS, "not x startswith 'apr'", True), (STRS, "x startswith 'apple'", True),
    (STRS, "x startswith 'apples'", True), (STRS, "x startswith 'aa'", False),
    (STRS, "x startswith ''", True), (STRS, "x startswith b'a'", False),
    (STRS, "x == 'banana'", False), (STRS, "x > 'b'", False), (STRS, "x < 'apple'", False),
    (STRS, "x <= 'apple'", True), (STRS, "x matches '.'", True), (STRS, "x == 1", False),
    (STRS, "x contains 'zz'", True), (STRS, "not x contains ''", False),
    (NULLISH, "x == null", True), (NULLISH, "x != null", False), (NULLISH, "exists x", True),
    (NULLISH, "not exists x", True), (NULLISH, "x == 1", False), (NULLISH, "x != 1", True),
    (NULLISH, "not x == null", True), (NULLISH, "x < 1", False),
    (S("null"), "not x == null", False), (S("missing"), "exists x", False),
    (S("missing"), "not x == 1", True), (S("missing"), "x != 1", False),
    (BOOLS, "x == true", True), (BOOLS, "x == 1", False), (BOOLS, "x < true", False),
    (BOOLS, "x in [1, 'a']", False), (BOOLS, "x in [false]", True),
    (FLOATS, "x == 1", True), (FLOATS, "x == 2", False), (FLOATS, "x > 1.5", False),
    (FLOATS, "not x > 0", True),  # a float range may hide NaN
    (FLOATS, "x != 1", True),
    (MIXED, "x == 50", True), (MIXED, "x == 200", False), (MIXED, "x > 'o'", True),
    (MIXED, "x > 'q'", False), (MIXED, "x == null", False), (MIXED, "x contains 1", False),
    (S("list"), "x contains 1", True), (S("list"), "x == 1", False), (S("list dict"), "x != 1", True),
    (S("dict"), "x contains 'a'", False), (S("bytes"), "x startswith b'a'", True),
    (S("bytes", {"bytes": b"b"}, {"bytes": b"c"}), "x startswith b'a'", False),
    (S("int"), "x == 5", True),                   # kinds but no bounds: cannot prune on value
    (S("int other"), "x == 'a'", True),           # unknown kind: cannot prune
    (S("int", {"int": "junk"}, {"int": 3}), "x == 5", False),  # unusable bound ignored
    (S("int", {"int": "junk"}, {"int": 3}), "x == 2", True),
    (S("float", {"float": math.nan}, {"float": math.nan}), "x == 2", True),
    (S("int", count=0), "not exists x", False),
])
def test_may_match(stats, text, may):
    assert parse(text).may_match({X: stats, ("other",): S("missing")}) is may


def test_may_match_unknown_stats():
    e = parse("x == 5 and not exists y")
    assert e.may_match({}) is True
    assert e.may_match({X: None, ("y",): None}) is True
    assert e.may_match({X: INTS}) is False
    assert e.may_match({X: S("int", {"int": 0}, {"int": 9}), ("y",): S("int")}) is False
    assert e.may_match({X: S("int", {"int": 0}, {"int": 9}), ("y",): NULLISH}) is True
    assert e.may_match(None) is True


def test_path_stats_from_values():
    st = PathStats.from_values([1, 5, 2.5, math.nan, "b", "a", None, MISSING, True, [1], {}, b"x"])
    assert st.count == 12
    assert st.kinds == frozenset(["int", "float", "str", "null", "missing", "bool", "list", "dict", "bytes"])
    assert st.min == {"int": 1, "float": 2.5, "str": "a"}
    assert st.max == {"int": 5, "float": 2.5, "str": "b"}
    assert PathStats.from_values([]) == PathStats(0, frozenset())
    with pytest.raises(AttributeError):
        st.count = 3
