"""The ``where`` language, evaluation side: semantic tables, typed columns, pruning.

Parsing and syntax errors are tested in ``test_where_parse.py``; property-based agreement
and soundness tests live in ``test_where_props.py``.
"""
import copy
import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archive.index.records import MAX_STAT_STR, chunk_stats
from archive.query import MISSING, Compare, PathStats, parse
from archive.query.prune import equal_may, order_may, prefix_may
from archive.query.values import K_STR

X = ("x",)


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


STAT_CHARS = st.sampled_from(["a", "b", "\U0010ffff", "\ud800", "é"])
#: strings around the cut: a long run of one character, then a short tail
STAT_TEXT = st.one_of(st.text(STAT_CHARS, max_size=90),
                      st.builds(lambda c, n, tail: c * n + tail, STAT_CHARS, st.integers(60, 68),
                                st.text(STAT_CHARS, max_size=4)))


@settings(max_examples=300)
@given(st.lists(STAT_TEXT, min_size=1, max_size=6),
       st.one_of(STAT_TEXT, st.tuples(st.integers(0, 5), st.integers(0, 90))),
       st.sampled_from(["==", "<", "<=", ">", ">=", "startswith"]))
def test_string_statistics_cut_to_a_prefix_stay_sound(values, lit, op):
    """Chunk statistics cut long strings (to MAX_STAT_STR characters, the maximum rounded up):
    pruning on them never rules out a value that passes or fails the test."""
    if isinstance(lit, tuple):  # a prefix of one of the values
        lit = values[lit[0] % len(values)][:lit[1]]
    stats = chunk_stats("str", np.array(values, dtype=object), "str")
    assert all(len(b) <= MAX_STAT_STR for b in stats.values())
    lo, hi = ({"str": stats["min"]}, {"str": stats["max"]}) if stats else ({}, {})
    ps = PathStats(len(values), frozenset({"str"}), lo, hi)
    test = {"==": lambda v: v == lit, "<": lambda v: v < lit, "<=": lambda v: v <= lit,
            ">": lambda v: v > lit, ">=": lambda v: v >= lit, "startswith": lambda v: v.startswith(lit)}[op]
    if op == "==":
        may_t, may_f = equal_may(K_STR, lit, ps, True)
    elif op == "startswith":
        may_t, may_f = prefix_may(K_STR, lit, ps)
    else:
        may_t, may_f = order_may(K_STR, op, lit, ps, True)
    assert may_t or not any(map(test, values))
    assert may_f or all(map(test, values))
