"""Hypothesis strategies for JSON-like records, an exact comparison that sees types and bits,
one way to damage an encoded payload, and the list model the archive state machines keep."""
from __future__ import annotations

import struct
from typing import Any, Callable

from hypothesis import strategies as st

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(),  # any size: big ints too
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.binary(max_size=8),
)
keys = st.one_of(st.sampled_from(["a", "b", "c", "id.orig_h", ""]), st.text(max_size=4))


def trees(max_leaves: int = 25) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(keys, children, max_size=4),
        ),
        max_leaves=max_leaves,
    )


records = st.lists(trees(), max_size=30)
#: Records that mostly share a shape, like real logs, with occasional odd ones.
shaped = st.lists(
    st.one_of(
        st.fixed_dictionaries({"ts": st.floats(0, 2e9), "host": st.sampled_from(["x", "y"]),
                               "n": st.integers(-5, 5)},
                              optional={"tags": st.lists(st.text(max_size=3), max_size=3)}),
        trees(8),
    ),
    max_size=60,
)


def exact(v: Any) -> Any:
    """A form of ``v`` whose == compares types and float bits exactly (NaN, -0.0, True vs 1)."""
    if isinstance(v, float):
        return ("f", struct.pack("<d", v))
    if isinstance(v, bool):
        return ("b", v)
    if isinstance(v, int):
        return ("i", v)
    if isinstance(v, (list, tuple)):
        return ("l", [exact(x) for x in v])
    if isinstance(v, dict):
        return ("d", [(k, exact(x)) for k, x in v.items()])
    return (type(v).__name__, v)


def damage(draw: Callable[[st.SearchStrategy[Any]], Any], payload: bytes, count: int,
           max_count: int) -> tuple[bytes, int]:
    """One random damage to an encoded payload or to the item count claimed for it: truncate
    it, flip 1-3 of its bytes, append junk, or claim any count in 0..max_count instead."""
    buf = bytearray(payload)
    how = draw(st.sampled_from(["truncate", "flip", "extend", "count"]))
    if how == "truncate":
        buf = buf[: draw(st.integers(0, max(0, len(buf) - 1)))]
    elif how == "extend":
        buf += draw(st.binary(min_size=1, max_size=8))
    elif how == "count":
        count = draw(st.integers(0, max_count))
    elif buf:
        for _ in range(draw(st.integers(1, 3))):
            buf[draw(st.integers(0, len(buf) - 1))] ^= draw(st.integers(1, 255))
    return bytes(buf), count


# --------------------------------------------------------------------------- the list model
#: An archive's live records as a state machine models them: (key or None, record) by position.
Live = list[tuple[Any, Any]]


def key_positions(live: Live) -> dict[Any, int]:
    """Each keyed record's position."""
    return {k: i for i, (k, _) in enumerate(live) if k is not None}


def model_put(live: Live, key: Any, rec: Any) -> None:
    """``Archive.put`` on the model: replace the keyed record in place, or append it."""
    idx = key_positions(live).get(key)
    if idx is None:
        live.append((key, rec))
    else:
        live[idx] = (key, rec)
