"""The shared int sub-column helpers against plain-Python models of their layouts.

int-delta2 is int-delta differencing twice (``order`` 2); the str and typed
string encodings share the int encodings' sub-column helpers.  Each is checked here against an
independent model: the bytes it must write, and the values it must read back.
"""
from __future__ import annotations

import itertools
import struct

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from archive.codec import int_checks, ints
from archive.codec.framing import Reader, Writer
from archive.codec.registry import decode_values, encode_values, get

I64 = np.iinfo(np.int64)
INT_IDS = (ints.PLAIN, ints.NARROW, ints.FOR, ints.DELTA, ints.DELTA2, ints.RLE, ints.DICT)
INTS = st.lists(st.one_of(st.integers(I64.min, I64.max), st.integers(-3, 3)), max_size=60)


def _wrap(x: int) -> int:
    """``x`` wrapped to int64, as the uint64 difference arithmetic stores it."""
    return (x + 2**63) % 2**64 - 2**63


def model_body(values: list[int], order: int, depth: int) -> bytes:
    """The documented layout: the first value of each difference level (i64) while values
    last, then, when all ``order`` heads were written, the last level's differences as a
    sub-column with the residual candidates."""
    out = b""
    level = values
    for _ in range(order):
        if not level:
            return out
        out += struct.pack("<q", level[0])
        level = [_wrap(b - a) for a, b in itertools.pairwise(level)]
    sub = ints.encode_int_sub(np.array(level, dtype=np.int64), depth, ints._RESIDUALS)
    return out + struct.pack("<I", len(sub)) + sub


@given(INTS, st.sampled_from([(ints.DELTA, 1), (ints.DELTA2, 2)]), st.integers(0, 1))
def test_delta_bodies_match_the_model(values: list[int], enc: tuple[int, int], depth: int) -> None:
    cid, order = enc
    v = np.array(values, dtype=np.int64)
    codec = get(cid)
    body = codec.encode(v, "int", depth)
    if int_checks.is_constant(v):
        assert body is None
        return
    assert body == model_body(values, order, depth)
    out = codec.decode(Reader(body), len(values), "int", depth)
    assert out.dtype == np.int64 and out.tolist() == values
    payload = encode_values("int", v, depth, only=(cid,))
    assert payload == bytes((cid,)) + body
    assert decode_values("int", payload, len(values), depth).tolist() == values


def test_deltas_decline_at_the_nesting_limit() -> None:
    for cid in (ints.DELTA, ints.DELTA2):
        assert get(cid).encode(np.arange(100, dtype=np.int64), "int", ints.MAX_NEST) is None


@given(st.one_of(st.none(), st.lists(st.sampled_from(INT_IDS), max_size=7)),
       st.lists(st.integers(1, 200), max_size=5), st.integers(1, 200))
def test_leaves_of_model(only: list[int] | None, leaf: list[int], fallback: int) -> None:
    got = ints.leaves_of(None if only is None else tuple(only), tuple(leaf), fallback)
    if only is None:
        assert got == tuple(leaf)
    else:
        kept = tuple(c for c in only if c in leaf)
        assert got == (kept if kept else (fallback,))


@given(INTS, st.integers(0, 2))
def test_int_sub_column_is_the_plain_selection(values: list[int], depth: int) -> None:
    """Past the nesting limit, restricting a sub-column to the leaf encodings picks what an
    unrestricted selection picks (the recursive ones decline there): the str encodings'
    int sub-columns kept their bytes when they moved onto :func:`ints.encode_int_sub`."""
    v = np.array(values, dtype=np.int64)
    sub = ints.encode_int_sub(v, depth)
    assert sub == encode_values("int", v, depth + 1)
    w = Writer()
    w.blob(sub)
    r = Reader(w.getvalue())
    assert ints.decode_int_sub(r, len(values), depth).tolist() == values
    assert r.remaining == 0
