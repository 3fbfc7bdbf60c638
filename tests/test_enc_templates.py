"""The template encoding of log lines (codec id 160): round trips, real logs, hostile payloads."""
from __future__ import annotations

import random
import struct
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive.codec import templates as tpl  # the package registers every encoding
from archive.codec.chunk import chunk_payload, decode_chunk, encode_chunk
from archive.codec.framing import Writer
from archive.codec.logmerge import merge
from archive.codec.logparse import STR_OPS, mine
from archive.codec.registry import decode_values, encode_values
from archive.codec.template_text import render_template, split_template
from archive.errors import CorruptChunkError

ID = tpl.TEMPLATE


def arr(items) -> np.ndarray:
    a = np.empty(len(items), dtype=object)
    a[:] = list(items)
    return a


@contextmanager
def forced():
    """Make the encoding apply to anything (it declines unrepetitive columns by default)."""
    cls = tpl.TemplateEncoding
    saved = cls.min_rows, cls.max_template_ratio, cls.min_avg_len
    cls.min_rows, cls.max_template_ratio, cls.min_avg_len = 0, float("inf"), 0.0
    try:
        yield
    finally:
        cls.min_rows, cls.max_template_ratio, cls.min_avg_len = saved


def roundtrip(kind, items) -> bytes:
    values = arr(items)
    with forced():
        payload = encode_values(kind, values, only=(ID,))
    assert payload[0] == ID
    out = decode_values(kind, payload, len(values))
    assert out.dtype == object and len(out) == len(values)
    assert all(type(a) is type(b) and a == b for a, b in zip(out.tolist(), items))
    return payload


# --------------------------------------------------------------------------- round trips

odd_text = st.text(
    alphabet=st.one_of(
        st.characters(exclude_categories=()),  # surrogates included
        st.sampled_from(list("0123456789abcdefABCDEF-+.:_ %\t\r\n\x10\x11\x12\x13\x14\x15\x16\x17x")),
    ),
    max_size=40,
)


@given(st.lists(odd_text, max_size=30))
def test_roundtrip_any_str(items):
    roundtrip("str", items)


@given(st.lists(st.binary(max_size=40), max_size=30))
def test_roundtrip_any_bytes(items):
    roundtrip("bytes", items)


_WORDS = ["alpha", "Beta", "cafe", "dead", "root", "x", "", "  ", "\t", "%s", "%d", "100%"]
_TEMPLATES = [
    "{ts} INFO [{w}] user {w} logged in from {ip} port {n}",
    "{ts} WARN  job_{n}_{pad} took {f} ms{sp}",
    "blk_{n} size {n} id=0x{hex} uuid {uuid}\r",
    "[{day} {w}] child {n} in slot {n}",
    "{n}",
    "",
    "no variables at all here",
    "{w}{n}{w}-{n}.{n}e{n} {sign}{n} {pad} {HEX}",
]


def _fill(draw_int, draw_word, t: str) -> str:
    out = []
    for lit, field, _, _ in __import__("string").Formatter().parse(t):
        out.append(lit)
        if field is None:
            continue
        n = draw_int(-10**6, 10**20)
        out.append({
            "ts": f"2024-01-{abs(n) % 28 + 1:02d} 12:{abs(n) % 60:02d}:07,{abs(n) % 1000:03d}",
            "w": draw_word(),
            "ip": f"10.{abs(n) % 256}.0.{abs(n) % 7}",
            "n": str(n),
            "pad": str(abs(n) % 1000).zfill(abs(n) % 6),
            "f": f"{abs(n) / 7:.3f}",
            "sp": " " * (abs(n) % 3),
            "hex": f"{abs(n) % (1 << 64):x}",
            "HEX": f"{abs(n) % (1 << 64):X}",
            "uuid": f"{abs(n):08x}-beef-{abs(n) % 9999:04d}-a{abs(n) % 999:03d}-{abs(n):012x}",
            "day": ["Mon", "Tue", "Wed"][abs(n) % 3],
            "sign": ["+", "-", "", "-0", "+0"][abs(n) % 5],
        }[field])
    return "".join(out)


@st.composite
def log_lines(draw):
    k = draw(st.integers(1, len(_TEMPLATES)))
    chosen = draw(st.lists(st.sampled_from(_TEMPLATES), min_size=k, max_size=k))
    n = draw(st.integers(0, 60))
    lines = []
    for _ in range(n):
        t = draw(st.sampled_from(chosen))
        lines.append(_fill(lambda a, b: draw(st.integers(a, b)),
                           lambda: draw(st.sampled_from(_WORDS)), t))
    return lines


@given(log_lines())
def test_roundtrip_log_like(lines):
    roundtrip("str", lines)


@given(log_lines())
def test_roundtrip_log_like_bytes(lines):
    roundtrip("bytes", [ln.encode("utf-8") + b"\xff" * (i % 2) for i, ln in enumerate(lines)])


def test_edge_values():
    items = [
        "", " ", "\r", "  trailing  ", "\ttab\t\t", "a  b   c", "007 +5 -0 -00 0 00 -7 +0",
        "x" * 100_000 + " 12 " + "9" * 5000, "9" * 30, "-9223372036854775808 9223372036854775807",
        "9223372036854775808 -9223372036854775809", "0xFFFFFFFFFFFFFFFF 0xffffffffffffffffff",
        "DeadBeef1 deadbeef1 DEADBEEF1", "\ud800 lone \udfff 12", "%d %s %% 5%", "\x10\x11 3",
        "a\nb 5", "1.5e-05 -0.0 +1.0", "日本 123 語", "١٢٣ 45",
    ] * 3
    roundtrip("str", items)
    roundtrip("bytes", [s.encode("utf-8", "surrogatepass") for s in items] + [b"\xff\xfe 1 \x80"])


def test_widths_and_signs_are_typed_and_exact():
    lines = [f"t={i:05d} v={i - 50} h={i * 977:08x} H={0x1000 + i * 31:X} s=+{i} "
             f"f=0.{['5', '05', '50', '007'][i % 4]}" for i in range(100)]
    payload = roundtrip("str", lines)
    (t,) = tpl.payload_templates(payload)
    assert render_template(t) == "t=<int> v=<int> h=<hex> H=<hex> s=+<int> f=0.<int>"
    assert "\x16" in t  # the fraction digits keep their own length


def test_back_reference_and_folding():
    lines = [f"host{i % 7} Nov 9 host{i % 7}/host{i % 7} pid[{1000 + i}] constant 42" for i in range(64)]
    payload = roundtrip("str", lines)
    (t,) = tpl.payload_templates(payload)
    statics, names = split_template(t)
    assert names == ["int", "int", "int", "int"]
    assert "constant 42" in statics[-1]  # a column that never changes is template text


# --------------------------------------------------------------------------- selection


def test_declines_unrepetitive_and_tiny_columns():
    enc = tpl.TemplateEncoding()
    assert enc.encode(arr([f"line {i}" for i in range(3)]), "str", 0) is None
    rng = random.Random(1)
    unique = ["".join(rng.choice("abcdefghij ") for _ in range(30)) for _ in range(100)]
    assert enc.encode(arr(unique), "str", 0) is None
    assert enc.encode(arr(["log line 1"] * 100), "str", 1) is None  # never inside a payload
    assert enc.encode(arr(["GET", "POST 1"] * 100), "str", 0) is None  # short values
    many = ["".join(rng.choice("abcdefghij ") for _ in range(30)) for _ in range(600)]
    assert enc.encode(arr(many), "str", 0) is None  # the probe of the head declines
    assert enc.encode(arr(["log line 1"] * 100), "str", 0) is not None


def _loghub(shared_data):
    files = sorted((shared_data / "loghub").glob("*_2k.log"))
    assert len(files) == 16
    for f in files:
        data = f.read_bytes()
        lines = data.split(b"\n")
        try:
            yield f.name, "str", [ln.decode("utf-8") for ln in lines]
        except UnicodeDecodeError:
            yield f.name, "bytes", lines


def test_loghub_roundtrip_and_selection(shared_data):
    for name, kind, lines in _loghub(shared_data):
        payload = roundtrip(kind, lines)
        templates = tpl.payload_templates(payload)
        assert 0 < len(templates) <= len(lines) * tpl.TemplateEncoding.max_template_ratio, name
        for t in templates:
            render_template(t)
        chunk = encode_chunk(kind, arr(lines))
        got_kind, out = decode_chunk(chunk)
        assert got_kind == kind and out.tolist() == lines, name
        assert chunk_payload(chunk)[0] == ID, name  # the selection picks templates for logs


_NAMES = ["bob", "amy", "eve", "joe", "ann", "ian", "kim", "lee", "max", "ned"]


def test_render_template_readable():
    lines = [f"{2015 + i % 3}-10-{i % 28 + 1:02d} {i % 24:02d}:{i % 59:02d}:{i % 60:02d},{i:03d} INFO"
             f" conn from {i % 4 + 10}.{i % 3}.{i % 9}.{i} id=0x{i:x} user {_NAMES[i % 10]} ok"
             for i in range(40)]
    payload = encode_values("str", arr(lines), only=(ID,))
    (t,) = tpl.payload_templates(payload)
    assert render_template(t) == "<ts> INFO conn from <ip> id=0x<hex> user <*> ok"
    assert isinstance(render_template(t.encode()), str)


def test_payload_templates_rejects_other_payloads():
    with pytest.raises(CorruptChunkError):
        tpl.payload_templates(b"\x40\x00")
    with pytest.raises(CorruptChunkError):
        tpl.payload_templates(bytes([ID, 7]))


# --------------------------------------------------------------------------- hostile input


def _sample_payload(kind="str") -> tuple[bytes, int]:
    lines = [f"Dec {i % 28 + 1} 06:55:{i % 60:02d} sshd[{24200 + i}]: Failed password for "
             f"{['root', 'admin', 'invalid user x'][i % 3]} from 10.{i}.3.{i % 7} port {40000 + i}"
             for i in range(40)]
    if kind == "bytes":
        lines = [ln.encode() for ln in lines]
    return encode_values(kind, arr(lines), only=(ID,)), len(lines)


def _decode_or_corrupt(payload: bytes, count: int, kind: str = "str") -> None:
    try:
        out = decode_values(kind, payload, count)
    except CorruptChunkError:
        return
    assert len(out) == count


def test_every_truncation_is_corrupt():
    payload, n = _sample_payload()
    for cut in range(len(payload)):
        with pytest.raises(CorruptChunkError):
            decode_values("str", payload[:cut], n)


@given(st.data())
def test_fuzzed_payloads_decode_or_raise_corrupt(data):
    kind = data.draw(st.sampled_from(["str", "bytes"]))
    payload, n = _sample_payload(kind)
    buf = bytearray(payload)
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(1, len(buf) - 1))
        buf[i] = data.draw(st.integers(0, 255))
    _decode_or_corrupt(bytes(buf), n, kind)
    _decode_or_corrupt(bytes(buf), data.draw(st.integers(0, 100)), kind)


def _int_col(values) -> bytes:
    return encode_values("int", np.array(values, dtype=np.int64))


def _payload(templates: list[bytes], tids: list[int], cols: list[bytes], ncols=None,
             count_override=None) -> bytes:
    w = Writer()
    w.u8(ID)
    w.u8(0)
    d = Writer()
    d.u32(len(templates) if count_override is None else count_override)
    d.raw(b"\x17".join(templates))
    w.blob(d.getvalue())
    w.blob(encode_values("int", np.array(tids, dtype=np.int64)))
    w.u32(len(cols) if ncols is None else ncols)
    for c in cols:
        w.blob(c)
    return w.getvalue()


def test_hand_built_payload_decodes():
    col = encode_values("int", np.array([5, 6], dtype=np.int64))
    p = _payload([b"a \x111 b", b"plain"], [0, 1, 0], [col])
    assert decode_values("str", p, 3).tolist() == ["a 5 b", "plain", "a 6 b"]


@pytest.mark.parametrize("payload, match", [
    (_payload([], [0], [], count_override=2**31), "claims"),
    (bytes([ID, 0]) + struct.pack("<I", 2**31) + b"\x01\x00\x00\x00", "truncated"),
    (_payload([b"x"], [0], [], ncols=2**31), "columns"),
    (_payload([b"x"], [1], []), "template id"),
    (_payload([b"x\x11"], [0], []), "stray"),
    (_payload([b"x\x11\x30"], [0], []), "width"),
    (_payload([b"x\x11\x45"], [0], []), "width"),
    (_payload([b"\x15\x30"], [0], []), "back-reference"),
    (_payload([b"\x14\x31"], [0], []), "parameter"),
    (_payload([b"\xff"], [0], []), "UTF-8"),
    (_payload([b"x\x17"], [0], []), "claims"),
    (_payload([b"x\x16"], [0], []), "stray"),
    (_payload([b"x\x16\x31"], [0], []), "parameter"),
    (_payload([b"\x16\x30"], [0], [_int_col([0]), _int_col([5])], ncols=1), "digit string"),
    (_payload([b"\x16\x30"], [0], [_int_col([19]), _int_col([5])], ncols=1), "digit string"),
])
def test_hostile_payloads(payload, match):
    with pytest.raises(CorruptChunkError, match=match):
        decode_values("str", payload, 1)


def test_hostile_expansion_is_refused():
    big = b"y" * 60_000
    p = _payload([big], [0] * 40_000, [])
    with pytest.raises(CorruptChunkError, match="expand"):
        decode_values("str", p, 40_000)


def test_kind_flag_must_match():
    payload, n = _sample_payload("bytes")
    with pytest.raises(CorruptChunkError, match="kind"):
        decode_values("str", payload, n)


# --------------------------------------------------------------------------- tokenizer


def test_split_is_lossless_and_merges_words():
    days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    lines = [f"[{days[i % 7]} Dec 04 04:47:{i:02d} 2005] [notice] jk2_init() Found child {i * 7} "
             f"in slot {i % 5}" for i in range(21)]
    groups = merge(mine(arr(lines), STR_OPS), STR_OPS)
    assert len(groups) == 1
    assert groups[0].rows.tolist() == list(range(21))
    assert merge(mine(arr(lines[:7]), STR_OPS), STR_OPS)[0].rows.tolist() == [0]  # too few lines
    assert STR_OPS.split("blk_-695 0x7fe dn228 9f4ef63 x-5") == [
        "blk_", "-695", " 0x", "7fe", " dn", "228", " ", "9f4ef63", " x-", "5", ""]
