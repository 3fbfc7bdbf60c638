"""Encoding selection: the single-candidate fast path, the template probe's gate, sampling,
the writer's reuse of a column's last choice, and determinism of all of it."""
from __future__ import annotations

import random
import string

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive.codec import ints, plans, registry
from archive.codec import templates as tpl  # the package registers every encoding
from archive.codec.chunk import ChunkEncoder, decode_chunk
from archive.codec.logparse import STR_OPS, mine
from archive.codec.registry import decode_values, encode_values
from archive.engine.settings import Settings
from archive.engine.chunking import RESCORE_EVERY, chunk_pieces, encode_reusing


def arr(items) -> np.ndarray:
    a = np.empty(len(items), dtype=object)
    a[:] = list(items)
    return a


def zeek_uids(n: int, distinct: int, seed: int) -> list[str]:
    """Ids shaped like Zeek connection uids (``C`` + 17 letters and digits), repeated."""
    rng = random.Random(seed)
    pool = ["C" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(17))
            for _ in range(distinct)]
    return [rng.choice(pool) for _ in range(n)]


def log_lines(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    forms = ["session {} opened for user u{} from 10.0.{}.{}", "GET /api/v{}/items/{} {} {}ms",
             "worker {} finished job {} in {}.{}s"]
    return [rng.choice(forms).format(*(rng.randrange(300) for _ in range(4))) for _ in range(n)]


def non_template_ids(kind: str) -> tuple[int, ...]:
    return tuple(e.codec_id for e in registry.registered(kind) if e.codec_id != tpl.TEMPLATE)


# --------------------------------------------------------------------------- single candidate


@given(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=0, max_size=3 * registry.SAMPLE_THRESHOLD),
       st.sampled_from([e.codec_id for e in registry.registered("int")]))
def test_single_candidate_encodes_the_whole_column(values, cid):
    """With one candidate there is nothing to choose: the payload is exactly that encoding's
    body of the whole column (no sample, no estimate), or ValueError when it declines."""
    a = np.array(values, dtype=np.int64)
    body = registry.get(cid).encode(a, "int", 0)
    if body is None:
        with pytest.raises(ValueError):
            encode_values("int", a, only=(cid,))
        return
    payload = encode_values("int", a, only=(cid,))
    assert payload == bytes((cid,)) + body
    assert decode_values("int", payload, len(a)).tolist() == values


# --------------------------------------------------------------------------- the template gate


def test_probe_declines_ids_split_by_digit_runs():
    ids = zeek_uids(4096, 300, seed=1)
    enc = tpl.TemplateEncoding()
    assert enc.encode(arr(ids), "str", 0) is None
    payload = encode_values("str", arr(ids))
    assert payload[0] != tpl.TEMPLATE
    assert decode_values("str", payload, len(ids)).tolist() == ids


def test_probe_keeps_logs_words_and_prose():
    enc = tpl.TemplateEncoding()
    lines = log_lines(2000, seed=2)
    assert enc.encode(arr(lines), "str", 0) is not None
    # repeated prose with digits, each line its own skeleton (as gsoc-2018's descriptions):
    # not single words, so still tried
    rng = random.Random(3)
    prose = ["the " + "".join(rng.choice("ghijklmnopqrstuvwxyz") for _ in range(10))
             + f" project since 20{i % 30:02d} has {i} users" for i in range(200)]
    head = arr([rng.choice(prose) for _ in range(enc.probe_rows)])
    groups = mine(head, STR_OPS)
    assert len(groups) == len(set(head.tolist())) and all(g.slots for g in groups)
    assert enc._probe(head, STR_OPS)
    # words without digits (DNS names): no placeholders, the template is still tried
    names = [rng.choice(["ise.example.org", "www.example.com", "mail.example.net"])
             for _ in range(1200)]
    assert enc.encode(arr(names), "str", 0) is not None


words = st.text(alphabet=string.ascii_letters + string.digits + "._-", min_size=1, max_size=24)


@given(st.lists(words, min_size=1, max_size=80), st.lists(st.booleans(), min_size=1, max_size=8),
       st.integers(0, 2**32 - 1))
def test_gate_only_ever_removes_the_template_candidate(pool, mix, seed):
    """Whatever the column (ids, log lines, a mix, long enough for the probe to run), the
    payload round-trips, and when the template encoding declines the choice is exactly the
    one made among the other candidates: the gate changes nothing else."""
    rng = random.Random(seed)
    lines = log_lines(64, seed)
    n = 2 * tpl.TemplateEncoding.probe_rows + 1 + rng.randrange(200)
    items = [rng.choice(pool) if rng.choice(mix) else rng.choice(lines) for _ in range(n)]
    values = arr(items)
    payload = encode_values("str", values)
    assert decode_values("str", payload, n).tolist() == items
    assert encode_values("str", values) == payload  # deterministic
    if tpl.TemplateEncoding().encode(registry._sample(values), "str", 0) is None:
        assert payload == encode_values("str", values, only=non_template_ids("str"))


# --------------------------------------------------------------------------- sampling


def test_sample_is_whole_up_to_the_threshold_then_fixed_slices():
    small = np.arange(registry.SAMPLE_THRESHOLD, dtype=np.int64)
    assert registry._sample(small) is small
    big = np.arange(registry.SAMPLE_THRESHOLD + 1, dtype=np.int64)
    s = registry._sample(big)
    assert len(s) == 4 * 512 and s[0] == 0 and s[-1] == len(big) - 1
    assert np.array_equal(registry._sample(big), s)


@given(st.integers(0, 2**32 - 1), st.integers(1, 3 * registry.SAMPLE_THRESHOLD),
       st.integers(1, 2**40), st.sampled_from(["random", "sorted", "runs"]),
       st.sampled_from(["int", "float"]))
def test_sampled_selection_round_trips_and_is_deterministic(seed, extra, hi, shape, kind):
    rng = np.random.default_rng(seed)
    n = registry.SAMPLE_THRESHOLD + extra  # long enough to be sampled
    a = rng.integers(0, hi, n)
    if shape == "sorted":
        a = np.cumsum(a)
    elif shape == "runs":
        a = np.repeat(a[: n // 7 + 1], 7)[:n]
    a = a.astype(np.int64) if kind == "int" else a / 10.0
    p = encode_values(kind, a)
    assert p == encode_values(kind, a.copy())
    out = decode_values(kind, p, len(a))
    assert out.tobytes() == a.tobytes()


# --------------------------------------------------------------------------- reuse


def test_reuse_keeps_the_choice_then_selects_again():
    enc = ChunkEncoder(3)
    choice: dict = {}
    rng = random.Random(4)
    chunks = [arr(["x"] * 100)] * 3 + [arr([rng.choice("abcdef") for _ in range(100)])]
    chunks += [arr(log_lines(600, seed=i)) for i in range(RESCORE_EVERY + 2)]
    ids, intervals = [], []
    for c in chunks:
        e = encode_reusing(enc, choice, "col", "str", c)
        kind, out = decode_chunk(e.data)
        assert kind == "str" and out.tolist() == c.tolist()
        ids.append((e.codec_id, choice["col"][:2]))
        intervals.append(choice["col"][3])
    assert ids[0] == (66, (66, 0)) and ids[2] == (66, (66, 2))  # str-const, reused
    assert ids[3][1][1] == 0  # str-const no longer applies: chosen afresh
    counts = [c for _, (_, c) in ids[3:]]
    assert max(counts) == RESCORE_EVERY and 0 in counts[1:]  # re-selected after RESCORE_EVERY
    assert intervals[3] == RESCORE_EVERY  # a changed choice starts over

    logs: dict = {}
    for i in range(RESCORE_EVERY + 2):
        e = encode_reusing(enc, logs, "logs", "str", arr(log_lines(600, seed=i)))
        assert e.codec_id == tpl.TEMPLATE
    # selected, reused RESCORE_EVERY times, selected again: confirmed, so twice as late next
    assert logs["logs"][1] == 0 and logs["logs"][3] == 2 * RESCORE_EVERY

    def run() -> list[bytes]:
        fresh: dict = {}
        return [encode_reusing(ChunkEncoder(3), fresh, "c", "str", c).data for c in chunks]

    assert run() == run()  # the bytes depend only on the chunks given


# --------------------------------------------------------------------------- chunk pieces


def pieces_model(sizes: list[int], cap: int, limit: int) -> list[tuple[int, int]]:
    """Greedy cut: at least one value a piece, at most ``cap``, and more only while the
    piece's raw size stays within ``limit``."""
    out, a, n = [], 0, len(sizes)
    while a < n:
        b, total = a + 1, sizes[a]
        while b < n and b - a < cap and total + sizes[b] <= limit:
            total += sizes[b]
            b += 1
        out.append((a, b))
        a = b
    return out or [(0, 0)]


@given(st.lists(st.integers(0, 700), max_size=60), st.integers(1, 70), st.integers(1024, 4000),
       st.sampled_from(["str", "bytes", "int"]), st.integers(0, 3000))
def test_chunk_pieces_match_the_model(lengths, cap, limit, kind, extra):
    s = Settings(chunk_items=cap, chunk_bytes=limit)
    if kind == "int":
        values, sizes = np.arange(len(lengths), dtype=np.int64), [8] * len(lengths)
    else:
        unit = "é" if kind == "str" else b"x"
        values, sizes = arr([unit * k for k in lengths]), [k + 4 for k in lengths]
    want = pieces_model(sizes, cap, limit)
    assert chunk_pieces(kind, values, s) == want
    assert chunk_pieces(kind, values, s, sum(sizes) + extra) == want  # any upper bound


# --------------------------------------------------------------------------- plans


def column(draw_kind: str, seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if draw_kind == "int":
        return np.cumsum(rng.integers(-3, 50, n)).astype(np.int64)
    if draw_kind == "float":
        return np.round(rng.normal(100, 20, n), 2)
    if draw_kind == "bool":
        return rng.random(n) < 0.1
    pool = [f"host-{i}.example.org" for i in range(int(rng.integers(1, 40)))] + ["2024-01-02T03:04:05Z"]
    return arr([pool[i] for i in rng.integers(0, len(pool), n)])


kinds = st.sampled_from(["int", "float", "bool", "str"])


@given(kinds, st.integers(0, 2**32 - 1), st.integers(0, 3000))
def test_replaying_a_recorded_plan_gives_the_same_bytes(kind, seed, n):
    values = column(kind, seed, n)
    with plans.planned(None) as made:
        first = encode_values(kind, values)
    assert len(made) == 1 and made[0][0] == first[0]
    with plans.planned(made[0]) as again:
        assert encode_values(kind, values) == first
    assert again == made


trees = st.recursive(st.tuples(st.integers(0, 255), st.just([])),
                     lambda sub: st.tuples(st.integers(0, 255), st.lists(sub, max_size=3)),
                     max_leaves=12)


@given(kinds, st.integers(0, 2**32 - 1), st.integers(0, 3000), trees)
def test_any_plan_round_trips(kind, seed, n, plan):
    """A plan is only a hint: whatever its ids (other kinds, unknown, nonsense shapes), the
    payload decodes to the values, and the tree reported is the one actually used."""
    values = column(kind, seed, n)
    with plans.planned(plan) as made:
        payload = encode_values(kind, values)
    assert made[0][0] == payload[0]
    out = decode_values(kind, payload, n)
    assert out.tobytes() == values.tobytes() if kind != "str" else out.tolist() == values.tolist()
    with plans.planned(made[0]):
        assert encode_values(kind, values) == payload


def test_plans_keep_only_sub_columns_of_a_fixed_layout():
    """Sub-columns that come and go with the values (a template's variable columns, a typed
    string's exceptions) are neither recorded nor replayed, so they never shift the places of
    the others; a template's ids column, always there, is."""
    with plans.planned(None) as made:
        payload = encode_values("str", arr(log_lines(600, seed=5)), only=(tpl.TEMPLATE,))
    assert len(made) == 1 and made[0][0] == tpl.TEMPLATE
    assert len(made[0][1]) == 1  # the ids only, not the variable columns
    with plans.planned(made[0]) as again:  # replaying it gives the same bytes
        assert encode_values("str", arr(log_lines(600, seed=5)), only=(tpl.TEMPLATE,)) == payload
    assert again == made
    times = [f"2024-01-02T03:04:{s:02d}Z" for s in range(60)] * 20
    trees = []
    for col in (times, times[:-3] + ["n/a", "-", "?"]):  # without, then with exceptions
        with plans.planned(None) as made:
            payload = encode_values("str", arr(col), only=(128,))  # str-time
        assert decode_values("str", payload, len(col)).tolist() == col
        trees.append(made[0])
    assert [t[0] for t in trees[0][1]] and len(trees[0][1]) == len(trees[1][1])


# --------------------------------------------------------------------------- selection costs


def test_a_single_applicable_candidate_is_not_estimated(monkeypatch):
    """Estimates only rank candidates: with one that applies (a long constant column: only
    int-for does), no zstd estimate is made, and the payload is that candidate's."""
    calls = []
    real = registry.compressor
    monkeypatch.setattr(registry, "compressor", lambda level: calls.append(level) or real(level))
    payload = encode_values("int", np.full(5000, 7, dtype=np.int64))
    assert payload[0] == ints.FOR and calls == []
    encode_values("int", np.arange(5000, dtype=np.int64) % 7)  # several apply: estimated
    assert calls


@given(st.lists(st.integers(-2**40, 2**40), max_size=300), st.sampled_from([None, (1,), (1, 2, 3)]))
def test_nested_int_columns_skip_plain_only_where_narrow_applies(vals, only):
    """A nested int column that int-narrow (also a candidate) holds does not try int-plain,
    unless it is scored by length anyway; any other column keeps its candidates, and either
    way the payload round-trips."""
    v = np.array(vals, dtype=np.int64)
    got = ints._without_plain(v, only)
    cands = only or tuple(e.codec_id for e in registry.registered("int"))
    fits = len(v) > registry.TINY and -(2**31) <= v.min() and v.max() < 2**32
    if fits and ints.PLAIN in cands and ints.NARROW in cands:
        assert got == tuple(c for c in cands if c != ints.PLAIN)
    else:
        assert got == only
    payload = ints.encode_int_sub(v, 0, only)
    assert decode_values("int", payload, len(v), 1).tolist() == vals
    if fits and only != (1,):
        assert payload[0] != ints.PLAIN


@pytest.mark.parametrize("kind, values", [
    ("bool", np.repeat(np.arange(300) % 2 == 0, np.arange(300) % 5 + 20)),  # bool-rle
    ("float", np.arange(5000, dtype=np.float64) * 3),  # float-integral
])
def test_single_sub_column_encodings_record_and_replay_it(kind, values):
    """bool-rle and the float encodings over one int column record that column's choice, and
    replaying the plan gives the same bytes."""
    with plans.planned(None) as made:
        first = encode_values(kind, values)
    assert len(made) == 1 and len(made[0][1]) == 1
    with plans.planned(made[0]) as again:
        assert encode_values(kind, values) == first
    assert again == made
