"""Shortcuts of selection that must not change what is chosen or written.

* Selection by body length with lower bounds (registry._best_by_length, Encoding.bound):
  columns of at most ``TINY`` values are scored by body length alone; candidates are tried in
  the order of their bounds and the rest skipped once none can win.  Each bound must be a
  true lower bound (exact for the leaf ints, NEVER only where the encoding declines), and
  the choice must be the one trying every candidate makes.
* Typed strings' ``feasible``: a cheap necessary condition that declines before parsing;
  the body must be the one parsing would give (``None`` included).
"""
from __future__ import annotations

from unittest import mock

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from archive.codec import ints, registry
from archive.codec.registry import NEVER, TINY, registered
from archive.codec.typed_strings import TypedString

_INT64 = st.integers(-(2**63), 2**63 - 1)


@st.composite
def int_columns(draw) -> np.ndarray:
    """Short int columns of the shapes selection meets: runs, few distinct values, steps,
    narrow and wide ranges, constants (long and short)."""
    n = draw(st.integers(0, TINY))
    style = draw(st.sampled_from(["small", "wide", "runs", "steps", "const", "few"]))
    if style == "small":
        vals = draw(st.lists(st.integers(-3, 300), min_size=n, max_size=n))
    elif style == "wide":
        vals = draw(st.lists(_INT64, min_size=n, max_size=n))
    elif style == "runs":
        runs = draw(st.lists(st.tuples(st.integers(-5, 5), st.integers(1, 20)), max_size=8))
        vals = [v for v, k in runs for _ in range(k)][:n]
    elif style == "steps":
        start, step = draw(_INT64), draw(st.integers(-1000, 1000))
        vals = [(start + i * step + 2**63) % 2**64 - 2**63 for i in range(n)]
    elif style == "const":
        vals = [draw(_INT64)] * n
    else:
        pool = draw(st.lists(_INT64, min_size=1, max_size=3))
        vals = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
    return np.array(vals, dtype=np.int64)


@settings(max_examples=300, deadline=None)
@given(int_columns(), st.integers(0, 3))
def test_int_bounds_are_lower_bounds_exact_for_leaves(values, depth):
    for enc in registered("int"):
        body = enc.encode(values, "int", depth)
        bound = enc.bound(values, "int", depth)
        if bound >= NEVER:
            assert body is None, enc.name
        elif body is not None:
            assert bound <= len(body), enc.name
            if enc.codec_id in ints.LEAF:
                assert bound == len(body), enc.name


def _exhaustive(cands: list, values: np.ndarray, depth: int) -> tuple[int, bytes] | None:
    """The general rule: every candidate trial-encoded, the shortest body, ties to the
    earlier registered."""
    best = None
    for i, enc in enumerate(cands):
        body = enc.encode(values, "int", depth)
        if body is not None and (best is None or (len(body), i) < best[0]):
            best = ((len(body), i), enc.codec_id, body)
    return None if best is None else (best[1], best[2])


@settings(max_examples=300, deadline=None)
@given(int_columns(), st.integers(0, 3), st.data())
def test_best_by_length_is_the_exhaustive_choice(values, depth, data):
    everything = registered("int")
    cands = data.draw(st.lists(st.sampled_from(everything), min_size=1, unique=True))
    cands.sort(key=everything.index)  # candidates come in registration order
    got = registry._best_by_length(cands, values, "int", depth)
    want = _exhaustive(cands, values, depth)
    assert (None if not got else (got[0][2].codec_id, got[0][3])) == want


@settings(max_examples=100, deadline=None)
@given(int_columns())
def test_short_int_columns_encode_as_the_exhaustive_choice(values):
    """End to end: the payload of a short column is the exhaustive choice's."""
    depth = registry.MAX_DEPTH - 1 if len(values) <= registry.FEW else 0  # as encode_values
    want = _exhaustive(registered("int"), values, depth)
    assert want is not None
    assert registry.encode_values("int", values) == bytes((want[0],)) + want[1]


_typed_like = st.one_of(
    st.integers(-10**20, 10**20).map(str),                   # decimals, some too long
    st.from_regex(r"-?0[0-9]{0,3}", fullmatch=True),          # leading zeros, "-0"
    st.binary(min_size=4, max_size=8).map(bytes.hex),         # hex ids of a few widths
    st.from_regex(r"[0-9a-f]{8}-[0-9a-f]{4}", fullmatch=True),
    st.from_regex(r"[0-9.:a-f-]{1,12}", fullmatch=True),      # digits and separators
    st.text(max_size=12),                                     # anything (non-ASCII too)
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_typed_like, min_size=1, max_size=120), st.integers(0, 1))
def test_feasible_never_changes_a_typed_body(items, depth):
    """Each typed encoding's body (or None) is the same with its ``feasible`` shortcut as
    when it always parses."""
    values = np.empty(len(items), dtype=object)
    values[:] = items
    for enc in registered("str"):
        if not isinstance(enc, TypedString):
            continue
        fast = enc.encode(values, "str", depth)
        with mock.patch.object(type(enc), "feasible", lambda self, v, lens, need: True):
            slow = enc.encode(values, "str", depth)
        assert fast == slow, enc.name
