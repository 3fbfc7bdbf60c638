"""Selection shortcuts that must not change what is chosen: a typed string encoding that
settles a column spares it the template trial, and the miner splits only distinct lines."""
from __future__ import annotations

import datetime as dt
import random
import string

import numpy as np
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from archive.codec import registry
from archive.codec import templates as tpl  # the package registers every encoding
from archive.codec.logparse import BYTES_OPS, STR_OPS, _mine_lines, mine
from archive.codec.registry import decode_values, encode_values
from archive.codec.typed_strings import DECIMAL, HEX, IPV4, IPV6, TIME, put_digits


def arr(items) -> np.ndarray:
    a = np.empty(len(items), dtype=object)
    a[:] = list(items)
    return a


def typed_column(kind: str, n: int, rng: random.Random, ordered: bool) -> list[str]:
    """``n`` strings a typed encoding types whole: times, IPv4/IPv6 addresses, decimals."""
    base = dt.datetime(2018, 3, 24, 17, 15, 20, tzinfo=dt.timezone.utc)
    if kind == "time":
        steps = sorted(rng.randrange(10**10) for _ in range(n)) if ordered else \
            [rng.randrange(10**10) for _ in range(n)]
        return [(base + dt.timedelta(microseconds=s)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                for s in steps]
    if kind == "ipv4":
        hosts = [f"10.{rng.randrange(3)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
                 for _ in range(max(1, n // 20 if ordered else n))]
        return [rng.choice(hosts) for _ in range(n)]
    if kind == "ipv6":
        return [f"2001:db8::{rng.randrange(1, 65536):x}" for _ in range(n)]
    vals = [rng.randrange(10**9) for _ in range(n)]
    return [str(v) for v in (sorted(vals) if ordered else vals)]


# --------------------------------------------------------------------------- settling


def test_a_typed_body_settles_only_without_exceptions():
    rng = random.Random(1)
    for cid, kind in ((TIME, "time"), (IPV4, "ipv4"), (IPV6, "ipv6"), (DECIMAL, "decimal")):
        enc = registry.get(cid)
        whole = typed_column(kind, 600, rng, ordered=True)
        body = enc.encode(arr(whole), "str", 0)
        assert body is not None and enc.settles(body), kind
        mixed = whole[:500] + ["n/a"] * 100
        body = enc.encode(arr(mixed), "str", 0)
        assert body is not None and not enc.settles(body), kind
    hexes = [f"{rng.randrange(16**12):012x}" for _ in range(600)]
    body = registry.get(HEX).encode(arr(hexes), "str", 0)
    assert body is not None and not registry.get(HEX).settles(body)  # never settles
    for enc in registry.registered("str"):
        if enc.codec_id not in (TIME, IPV4, IPV6, DECIMAL):
            assert not enc.settles(b"\0" * 16), enc.name


@pytest.fixture
def template_calls(monkeypatch):
    """Counts the template encoding's trials."""
    enc = registry.get(tpl.TEMPLATE)
    calls = []
    orig = enc.encode

    def counted(values, kind, depth):
        calls.append(len(values))
        return orig(values, kind, depth)

    monkeypatch.setattr(enc, "encode", counted)
    return calls


@pytest.mark.parametrize("kind", ["time", "ipv4", "decimal"])
def test_the_template_is_not_tried_on_a_settled_column(kind, template_calls):
    values = typed_column(kind, 1500, random.Random(2), ordered=True)
    payload = encode_values("str", arr(values))
    assert template_calls == []
    assert decode_values("str", payload, len(values)).tolist() == values
    template_calls.clear()
    mixed = values[:1400] + [f"host {i} down" for i in range(100)]  # exceptions: not settled
    encode_values("str", arr(mixed))
    assert template_calls


@pytest.mark.parametrize("kind", ["time", "ipv4", "ipv6", "decimal"])
@pytest.mark.parametrize("ordered", [True, False])
def test_the_template_never_beats_a_settling_encoding(kind, ordered):
    """The measurement behind the gate: on columns a typed encoding types whole, the template
    encoding (when it applies) compresses larger than what selection picks without it."""
    z = zstandard.ZstdCompressor(level=3)
    for seed in range(3):
        values = arr(typed_column(kind, 3000, random.Random(seed), ordered))
        chosen = encode_values("str", values)
        body = registry.get(tpl.TEMPLATE).encode(values, "str", 0)
        if body is not None:
            forced = bytes((tpl.TEMPLATE,)) + body
            assert len(z.compress(forced)) > len(z.compress(chosen)), (kind, seed)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["time", "ipv4", "decimal", "words", "log"]), min_size=1,
                max_size=3),
       st.integers(0, 2**32 - 1), st.integers(8, 1500), st.floats(0, 0.6))
def test_the_gate_changes_nothing_but_a_template_choice(mix, seed, n, junk):
    """Selection with the gate equals selection without it unless the template would have
    won there; either way the payload round-trips and is deterministic."""
    rng = random.Random(seed)
    sources = {k: typed_column(k, n, rng, rng.random() < 0.5) for k in ("time", "ipv4", "decimal")}
    sources["words"] = ["".join(rng.choice(string.ascii_lowercase) for _ in range(6))
                        for _ in range(n)]
    sources["log"] = [f"worker {rng.randrange(9)} finished job {i} in {rng.randrange(99)}s"
                      for i in range(n)]
    kind = mix[0]
    items = [sources[rng.choice(mix)][i] if rng.random() < junk else sources[kind][i]
             for i in range(n)]
    values = arr(items)
    gated = encode_values("str", values)
    assert decode_values("str", gated, n).tolist() == items
    assert encode_values("str", values) == gated
    with pytest.MonkeyPatch.context() as mp:
        for enc in registry.registered("str"):
            mp.setattr(enc, "settles", lambda body: False)
        ungated = encode_values("str", values)
    if ungated[0] != tpl.TEMPLATE:
        assert gated == ungated


# --------------------------------------------------------------------------- the miner


def groups_of(groups) -> list:
    return [(g.skeleton, g.rows.tolist(), g.slots) for g in groups]


def mine_model(vals: list, ops) -> list:
    """Plain per-line mining: split each line, group by skeleton in first-appearance order."""
    by: dict = {}
    for row, v in enumerate(vals):
        p = ops.split(v)
        rows, toks = by.setdefault(ops.ph_var.join(p[0::2]), ([], []))
        rows.append(row)
        toks.append(p[1::2])
    return [(skel, rows, [list(c) for c in zip(*toks)]) for skel, (rows, toks) in by.items()]


lines = st.text(alphabet="ab 19.-:x\n\x1e\x10é", max_size=14)


@settings(max_examples=200, deadline=None)
@given(st.lists(lines, min_size=1, max_size=12), st.lists(st.integers(0, 11), min_size=1,
                                                          max_size=120))
def test_mining_distinct_lines_matches_mining_every_line(pool, picks):
    """Repetitive columns (few distinct lines, where only those are split) and unique ones,
    with or without newlines (the per-line path), give the model's groups, str and bytes."""
    items = [pool[i % len(pool)] for i in picks]
    for ops, vals in ((STR_OPS, items), (BYTES_OPS, [v.encode("utf-8") for v in items])):
        assert groups_of(mine(arr(vals), ops)) == mine_model(vals, ops)
        assert groups_of(_mine_lines(list(vals), ops)) == mine_model(vals, ops)


# --------------------------------------------------------------------------- digit rendering


def put_digits_model(m: np.ndarray, start: int, width: int, v: np.ndarray) -> None:
    """One row at a time, in Python: the last ``width`` digits of ``v % 10**width``."""
    for i, x in enumerate(v.tolist()):
        m[i, start : start + width] = list(b"%0*d" % (width, x % 10**width))


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 18), st.integers(0, 3), st.integers(0, 300),
       st.sampled_from(["in range", "wide", "any"]), st.integers(0, 2**32 - 1))
def test_put_digits_writes_the_last_digits(width, start, n, spread, seed):
    """Short and long columns, in range or not (negative, wider than ``width``): the digits
    of ``v mod 10**width``, as rendering has always written them."""
    lo, hi = {"in range": (0, 10**width), "wide": (-(10**12), 10**12),
              "any": (-(2**63), 2**63 - 1)}[spread]
    v = np.random.default_rng(seed).integers(lo, hi, n, dtype=np.int64)
    got = np.zeros((n, start + width + 2), dtype=np.uint8)
    want = got.copy()
    put_digits(got, start, width, v)
    put_digits_model(want, start, width, v)
    assert np.array_equal(got, want)


# --------------------------------------------------------------------------- shared derivations


def test_shared_derives_once_per_scoring_and_array():
    calls = []

    def build(a):
        calls.append(a)
        return len(calls)

    a, b = arr(["x"] * 3), arr(["x"] * 3)
    assert registry.shared(a, "k", build) == 1 and registry.shared(a, "k", build) == 2
    token = registry._SHARED.set({})  # as inside a scoring
    try:
        assert registry.shared(a, "k", build) == 3
        assert registry.shared(a, "k", build) == 3  # the same array: shared
        assert registry.shared(b, "k", build) == 4  # an equal but other array: its own
        assert registry.shared(a, "other", build) == 5
    finally:
        registry._SHARED.reset(token)
    assert registry.shared(a, "k", build) == 6  # the scoring is over


def test_typed_candidates_measure_a_sample_once(monkeypatch):
    from archive.codec import typed_strings
    values = arr(typed_column("time", 1000, random.Random(4), ordered=True))
    seen = []
    orig = typed_strings._lengths_ascii

    def counted(a):
        seen.append(a)
        return orig(a)

    monkeypatch.setattr(typed_strings, "_lengths_ascii", counted)
    encode_values("str", values)
    assert sum(a is values for a in seen) == 1


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["time", "ipv4", "decimal", "words"]), min_size=1, max_size=3),
       st.integers(0, 2**32 - 1), st.integers(1, 700))
def test_sharing_changes_no_byte(mix, seed, n):
    from archive.codec import typed_strings
    rng = random.Random(seed)
    sources = {k: typed_column(k, n, rng, True) for k in ("time", "ipv4", "decimal")}
    sources["words"] = ["é" + str(i % 7) if i % 3 else "w" for i in range(n)]
    values = arr([sources[rng.choice(mix)][i] for i in range(n)])
    with_sharing = encode_values("str", values)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(typed_strings, "shared", lambda a, key, build: build(a))
        assert encode_values("str", values) == with_sharing
