"""Property tests of the ``where`` language on random records and random expressions.

* ``evaluate`` (object columns, and typed int64/float64/bool columns wherever the values allow)
  agrees exactly with the per-record reference ``matches``;
* ``may_match`` is sound: when it says no record can match, none does (with exact, partial and
  unknown statistics);
* ``str`` is canonical: ``parse(str(e)) == e``.
"""
import math

import numpy as np
from hypothesis import event, given
from hypothesis import strategies as st

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
    lookup,
    parse,
)
from archive.query.values import compare

EDGE_INTS = [2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**53, 2**53 + 1, -(2**53) - 1, 2**70,
             -(2**70), 2**1024 - 1, 2**1024, -(2**1024)]
EDGE_FLOATS = [0.0, -0.0, 0.5, -2.5, 2.0**53, 2.0**53 + 2, 2.0**63, -(2.0**63), 2.0**64, 9.2e18,
               math.inf, -math.inf, 1e308, 1.5]
ALPHABET = "ab\x00é`\"\\\n\U0001F600"

ints = st.one_of(st.integers(-3, 3), st.sampled_from(EDGE_INTS), st.integers())
int64s = st.one_of(st.integers(-3, 3), st.sampled_from([v for v in EDGE_INTS if -(2**63) <= v < 2**63]),
                   st.integers(-(2**63), 2**63 - 1))
floats = st.one_of(st.sampled_from(EDGE_FLOATS), st.floats(allow_nan=False), st.floats(-4, 4))
texts = st.text(alphabet=ALPHABET, max_size=3)
blobs = st.binary(max_size=3)

# Literals: everything but NaN; values: the same plus NaN, lists and dicts.
literals = st.one_of(st.none(), st.booleans(), ints, floats, texts, blobs)
scalars = st.one_of(st.none(), st.booleans(), ints, floats, st.just(math.nan), texts, blobs)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["x", "y"]), inner, max_size=2),
    max_leaves=5,
)
TYPED_MODES = {"int": int64s, "float": st.one_of(floats, st.just(math.nan)), "bool": st.booleans()}
# Per-path value modes: a typed kind (always present), that kind with nulls and gaps, or anything.
MODES = [("int", False), ("float", False), ("bool", False), ("int", True), ("float", True),
         ("str", True), ("mixed", True), ("mixed", True)]
MODE_VALUES = {**TYPED_MODES, "str": texts, "mixed": values}

# Paths: top-level (possibly typed), dotted key, keyword key, nested, through non-dicts, absent.
PATHS = [("a",), ("b",), ("c.d",), ("or",), ("n", "x"), ("n",), ("a", "x"), ("zz",)]
paths = st.one_of(st.sampled_from(PATHS), st.sampled_from(PATHS[:3]))  # favour common paths
patterns = st.sampled_from(["a", "^b", "é$", "a.?b", "\\x00", "(?i)A", "^$", b"a", b"^\\x00", b"b$"])
OPS = ["==", "!=", "<", "<=", ">", ">="]



def make_exprs(lits, prefixes):
    leaves = st.one_of(
        st.builds(Compare, paths, st.sampled_from(OPS), lits),
        st.builds(In, paths, st.lists(lits, max_size=4)),
        st.builds(StartsWith, paths, prefixes),
        st.builds(Contains, paths, lits),
        st.builds(Matches, paths, patterns),
        st.builds(Exists, paths),
    )
    return leaves | st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.builds(Not, inner),
            st.builds(And, st.lists(inner, min_size=2, max_size=3)),
            st.builds(Or, st.lists(inner, min_size=2, max_size=3)),
        ),
        max_leaves=6,
    )


exprs = make_exprs(literals, texts | blobs)


def _scalars_in(v, out):
    if isinstance(v, list):
        for e in v:
            _scalars_in(e, out)
    elif isinstance(v, dict):
        for e in v.values():
            _scalars_in(e, out)
    elif not (isinstance(v, float) and math.isnan(v)):
        out.append(v)


@st.composite
def records(draw, max_size=8):
    """Records where "a", "b", "c.d" each hold one kind of value (maybe with nulls and gaps)."""
    modes = {k: draw(st.sampled_from(MODES)) for k in ("a", "b", "c.d")}
    out = []
    for _ in range(draw(st.integers(0, max_size))):
        r = {}
        for k, (mode, gaps) in modes.items():
            if not gaps:
                r[k] = draw(MODE_VALUES[mode])
            elif draw(st.integers(0, 4)) > 0:
                r[k] = None if mode != "mixed" and draw(st.integers(0, 4)) == 0 else draw(MODE_VALUES[mode])
        for k in ("or", "n"):
            if draw(st.booleans()):
                r[k] = draw(values)
        out.append(r)
    return out


@st.composite
def cases(draw, max_size=8):
    """Records, and an expression whose literals often are values (or prefixes) found in them."""
    recs = draw(records(max_size))
    pool: list = []
    for r in recs:
        _scalars_in([r.get(k) for k in ("a", "b", "c.d")], pool)
    lits, prefixes = literals, texts | blobs
    if pool:
        lits = st.one_of(literals, st.sampled_from(pool), st.sampled_from(pool))
        cut = [v[:i] for v in pool if isinstance(v, (str, bytes)) for i in range(len(v) + 1)]
        if cut:
            prefixes = st.one_of(prefixes, st.sampled_from(cut))
    return recs, draw(make_exprs(lits, prefixes))


def object_column(vals):
    arr = np.empty(len(vals), dtype=object)
    for i, v in enumerate(vals):
        arr[i] = v
    return arr


def typed_column(vals):
    """The engine's typed array when every value is present, non-null, one type; else object."""
    kinds = {type(v) for v in vals}
    if kinds == {bool}:
        return np.array(vals, dtype=bool)
    if kinds == {int} and all(-(2**63) <= v < 2**63 for v in vals):
        return np.array(vals, dtype=np.int64)
    if kinds == {float}:
        return np.array(vals, dtype=np.float64)
    return object_column(vals)


def columns(expr, recs, typed):
    out = {}
    for p in expr.paths:
        vals = [lookup(r, p) for r in recs]
        if all(v is MISSING for v in vals) and typed:
            continue  # an absent column means "absent from every record"
        out[p] = (typed_column if typed else object_column)(vals)
    return out


@given(cases())
def test_evaluate_agrees_with_matches(case):
    recs, expr = case
    want = [expr.matches(r) for r in recs]
    event("mixed results" if 0 < sum(want) < len(recs) else f"all {bool(sum(want))}, n={min(len(recs), 2)}")
    for typed in (False, True):
        cols = columns(expr, recs, typed)
        if typed:
            for col in cols.values():
                event(f"typed column {col.dtype}")
        got = expr.evaluate(cols, len(recs))
        assert got.dtype == bool and got.shape == (len(recs),)
        assert got.tolist() == want, (str(expr), typed)


@given(st.lists(st.one_of(int64s, floats, st.just(math.nan)), min_size=1, max_size=8),
       st.sampled_from(OPS), st.one_of(ints, floats))
def test_numeric_comparison_is_pythons_exact_one(vals, op, lit):
    """Typed numeric columns compare exactly like Python's int/float operators."""
    want = [compare(v, op, lit) for v in vals]
    py = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
          "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}[op]
    assert want == [py(v, lit) for v in vals]
    e = Compare(("x",), op, lit)
    for col in (typed_column(vals), object_column(vals)):
        assert e.evaluate({("x",): col}, len(vals)).tolist() == want


def _degrade(st_: PathStats, how: int):
    if how == 1:
        return None
    if how == 2:
        return PathStats(st_.count, st_.kinds)  # kinds only, no bounds
    return st_


@given(cases(max_size=4), st.lists(st.integers(0, 3), min_size=len(PATHS), max_size=len(PATHS)))
def test_may_match_is_sound(case, degrade):
    recs, expr = case
    stats = {p: PathStats.from_values(lookup(r, p) for r in recs) for p in PATHS}
    matched = any(expr.matches(r) for r in recs)
    if matched:
        assert expr.may_match(stats)
    event("pruned" if not expr.may_match(stats) else "not pruned")
    partial = {p: _degrade(s, how) for (p, s), how in zip(stats.items(), degrade)}
    if matched:
        assert expr.may_match(partial)
    if not expr.may_match(partial):
        assert not expr.evaluate(columns(expr, recs, True), len(recs)).any()


@given(exprs)
def test_str_round_trips(expr):
    text = str(expr)
    again = parse(text)
    assert again == expr
    assert str(again) == text
    assert again.paths == expr.paths


@st.composite
def one_column(draw):
    """Values of one kind (maybe with nulls and gaps) and a single predicate on them whose
    literal is mostly taken from the values: many records match, many do not."""
    kind = draw(st.sampled_from([int64s, ints, floats, texts, blobs, st.booleans(),
                                 st.lists(st.one_of(st.integers(-2, 2), st.booleans(), texts), max_size=3)]))
    gaps = draw(st.booleans())
    vals = draw(st.lists(st.one_of(kind, st.sampled_from([None, MISSING])) if gaps else kind,
                         min_size=3, max_size=10))
    pool = [v for v in vals if v is not MISSING and not isinstance(v, list)] or [0]
    pool += [e for v in vals if isinstance(v, list) for e in v]
    lit = st.one_of(st.sampled_from(pool), st.sampled_from(pool), literals)
    cut = [v[:i] for v in pool if isinstance(v, (str, bytes)) for i in range(len(v) + 1)] or [""]
    x = st.just(("x",))
    leaf = draw(st.one_of(
        st.builds(Compare, x, st.sampled_from(OPS), lit),
        st.builds(In, x, st.lists(lit, max_size=4)),
        st.builds(StartsWith, x, st.sampled_from(cut)),
        st.builds(Contains, x, lit),
        st.builds(Matches, x, patterns),
        st.builds(Exists, x),
    ))
    return vals, leaf


@given(one_column())
def test_single_predicate_agreement(case):
    vals, leaf = case
    recs = [{} if v is MISSING else {"x": v} for v in vals]
    want = [leaf.matches(r) for r in recs]
    event("mixed results" if 0 < sum(want) < len(recs) else "all the same")
    for col in (object_column(vals), typed_column(vals)):
        assert leaf.evaluate({("x",): col}, len(vals)).tolist() == want
    stats = {("x",): PathStats.from_values(vals)}
    assert leaf.may_match(stats) or not any(want)
    assert Not(leaf).may_match(stats) or all(want)
