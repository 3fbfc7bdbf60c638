"""String encodings (str-plain, str-dict, str-const): round trips, selection, hostile payloads."""
from __future__ import annotations

import gzip
import json
import struct
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

try:  # the int encodings the length/index sub-columns use (written alongside these)
    import archive.codec.ints  # noqa: F401
except ImportError:  # pragma: no cover
    pass
from archive.codec import strings as S
from archive.codec.chunk import decode_chunk, encode_chunk
from archive.codec.framing import Writer
from archive.codec.registry import DTYPES, decode_values, encode_values
from archive.errors import CorruptChunkError
from tests.strategies import damage

PLAIN_IDS = (S.PLAIN, S.DICT, S.CONST)
#: Selection is asserted among these (other modules may register more str encodings).
OURS = PLAIN_IDS

#: Any code point, lone surrogates included, with the awkward ones made likely.
chars = st.one_of(st.integers(0, 0x10FFFF).map(chr), st.sampled_from("a\x00\ud800\udfff\u00e9\U0001f600"))
texts = st.text(chars, max_size=12)
blobs = st.binary(max_size=12)


def obj(items) -> np.ndarray:
    return np.fromiter(items, dtype=object, count=len(items))


def roundtrip(kind: str, items: list, only=None) -> bytes:
    payload = encode_values(kind, obj(items), only=only)
    out = decode_values(kind, payload, len(items))
    assert out.dtype == object and out.tolist() == items
    assert all(type(a) is type(b) for a, b in zip(out.tolist(), items))
    return payload


def check_decode(kind: str, payload: bytes, count: int) -> None:
    """Any payload decodes to ``count`` values of the kind or raises CorruptChunkError, quickly."""
    start = time.perf_counter()
    try:
        out = decode_values(kind, payload, count)
    except CorruptChunkError:
        return
    finally:
        assert time.perf_counter() - start < 2.0
    assert len(out) == count and out.dtype == DTYPES[kind]


# --------------------------------------------------------------------------- round trips


@given(st.lists(texts, max_size=40))
def test_plain_roundtrip_any_text(items):
    p = roundtrip("str", items, only=(S.PLAIN,))
    assert p[0] == S.PLAIN


@given(st.lists(blobs, max_size=40))
def test_plain_roundtrip_bytes(items):
    roundtrip("bytes", items, only=(S.PLAIN,))


@given(st.lists(texts, min_size=1, max_size=6), st.data())
def test_dict_roundtrip(pool, data):
    items = data.draw(st.lists(st.sampled_from(pool), min_size=2 * len(set(pool)), max_size=60))
    p = roundtrip("str", items, only=(S.DICT,))
    assert p[0] == S.DICT


@given(st.lists(blobs, min_size=1, max_size=6), st.data())
def test_dict_roundtrip_bytes(pool, data):
    items = data.draw(st.lists(st.sampled_from(pool), min_size=2 * len(set(pool)), max_size=60))
    roundtrip("bytes", items, only=(S.DICT,))


@given(texts, st.integers(1, 50))
def test_const_roundtrip(v, n):
    p = roundtrip("str", [v] * n, only=(S.CONST,))
    assert len(p) == 1 + 4 + len(v.encode("utf-8", "surrogatepass"))


@given(st.one_of(st.lists(texts, max_size=30), st.lists(st.sampled_from(["x", "", "\ud800"]), max_size=80)))
def test_auto_roundtrip(items):
    roundtrip("str", items)


@given(st.lists(st.text(st.characters(min_codepoint=1, max_codepoint=127), max_size=8), max_size=40))
def test_plain_ascii_fast_path(items):
    roundtrip("str", items, only=(S.PLAIN,))
    roundtrip("bytes", [x.encode() for x in items], only=(S.PLAIN,))


def test_surrogates_do_not_merge():
    # A high then a low surrogate in neighbouring values, or in one value, stay two code points.
    items = ["\ud800", "\udc00", "\ud800\udc00", "a\udfff", ""]
    for cid in (S.PLAIN, None):
        roundtrip("str", items, only=None if cid is None else (cid,))


def test_empty_column_and_empty_values():
    for kind in ("str", "bytes"):
        assert encode_values(kind, obj([]), only=OURS)[0] == S.PLAIN
        roundtrip(kind, [])
        roundtrip(kind, [""] * 5 if kind == "str" else [b""] * 5, only=(S.PLAIN,))
    roundtrip("bytes", [b"\x00", b"\x00\x00", b"", b"a\x00"])


def test_declines():
    assert S.StrConstant().encode(obj(["a", "b"]), "str", 0) is None
    assert S.StrConstant().encode(obj([]), "str", 0) is None
    assert S.StrDictionary().encode(obj(["a", "b", "c"]), "str", 0) is None  # all distinct
    assert S.StrDictionary().encode(obj(["a", "a"]), "str", S.STR_MAX_NEST) is None


def test_selection_prefers_small_encodings():
    assert encode_values("str", obj(["same"] * 1000), only=OURS)[0] == S.CONST
    methods = np.random.default_rng(1).choice(["GET", "POST", "PUT", "DELETE"], 6000).astype(object)
    auto = encode_values("str", methods, only=OURS)
    assert auto[0] == S.DICT
    assert len(auto) < len(encode_values("str", methods, only=(S.PLAIN,)))


def test_chunk_roundtrip_unicode():
    items = ["naïve", "日本語", "\ud83d", "emoji 😀", ""] * 100
    kind, out = decode_chunk(encode_chunk("str", obj(items)))
    assert kind == "str" and out.tolist() == items


# --------------------------------------------------------------------------- hostile payloads


def _plain(lens: list[int], data: bytes, lens_only=None) -> bytes:
    w = Writer()
    w.blob(encode_values("int", np.array(lens, dtype=np.int64)))
    w.blob(data)
    return bytes((S.PLAIN,)) + w.getvalue()


@pytest.mark.parametrize("lens, data, msg", [
    ([2, -1], b"a", "length"),
    ([1, 1], b"abc", "sum"),
    ([5], b"ab", "length"),
    ([1, 2], b"\xff\xfe\xfd", "UnicodeDecodeError"),
    ([1, 2], b"a\x00", "sum"),  # the NUL (slow) path
    ([3, -1], b"ab", "length"),  # the ASCII (split) path
    ([], b"ab", "no values"),
])
def test_plain_bad_lengths(lens, data, msg):
    with pytest.raises(CorruptChunkError, match=msg):
        decode_values("str", _plain(lens, data), len(lens))


def test_dict_bad_index_and_size():
    uniques = encode_values("str", obj(["a", "b"]), only=(S.PLAIN,))
    for k, idx, msg in ((2, [0, 2, 1], "index"), (2, [0, -1, 1], "index"), (5, [0, 0, 0], "distinct"),
                        (0, [0, 0, 0], "distinct")):
        w = Writer()
        w.u32(k)
        w.blob(uniques)
        w.blob(encode_values("int", np.array(idx, dtype=np.int64)))
        with pytest.raises(CorruptChunkError, match=msg):
            decode_values("str", bytes((S.DICT,)) + w.getvalue(), 3)


def test_const_of_no_values_and_claimed_huge_blob():
    with pytest.raises(CorruptChunkError):
        decode_values("str", bytes((S.CONST,)) + struct.pack("<I", 1) + b"a", 0)
    with pytest.raises(CorruptChunkError, match="truncated"):
        decode_values("str", bytes((S.CONST,)) + struct.pack("<I", 2**31) + b"a", 3)


@st.composite
def damaged_payloads(draw):
    kind = draw(st.sampled_from(["str", "bytes"]))
    pool = draw(st.lists(texts if kind == "str" else blobs, min_size=1, max_size=4))
    items = draw(st.lists(st.sampled_from(pool), max_size=30))
    cid = draw(st.sampled_from(PLAIN_IDS + (None,)))
    try:
        payload = encode_values(kind, obj(items), only=None if cid is None else (cid,))
    except ValueError:
        payload = encode_values(kind, obj(items))
    return (kind, *damage(draw, payload, len(items), 100))


@given(damaged_payloads())
def test_damaged_payloads_decode_or_raise_corrupt(case):
    check_decode(*case)


# --------------------------------------------------------------------------- real data


def test_zeek_string_columns_roundtrip(shared_data):
    with gzip.open(shared_data / "zeek" / "dns.json.gz", "rt") as f:
        rows = [json.loads(line) for _, line in zip(range(8000), f)]
    for col in ("uid", "id.orig_h", "id.resp_h", "proto", "query", "qtype_name", "rcode_name"):
        items = [r[col] for r in rows if col in r]
        _, out = decode_chunk(encode_chunk("str", obj(items)))
        assert out.tolist() == items, col
        assert roundtrip("str", items, only=(S.PLAIN,))
        by_name = [x.encode() for x in items]
        assert decode_chunk(encode_chunk("bytes", obj(by_name)))[1].tolist() == by_name
