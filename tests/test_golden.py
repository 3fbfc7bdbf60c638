"""Committed chunks decoded on every run, so the format cannot change by accident."""
from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import pytest

import archive.codec  # noqa: F401
from archive.codec.chunk import HEADER_SIZE, chunk_payload, decode_chunk, read_header
from archive.codec.registry import registered

GOLDEN = Path(__file__).parent / "golden"
FILES = sorted(GOLDEN.glob("*.chunk"))


def _load(kind: str, values: list) -> list:
    if kind == "float":
        return [struct.unpack("<d", bytes.fromhex(v))[0] for v in values]
    if kind == "bytes":
        return [base64.b64decode(v) for v in values]
    return values


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_golden_chunk_decodes(path):
    want = json.loads(path.with_suffix(".json").read_text())
    data = path.read_bytes()
    kind, values = decode_chunk(data)
    assert kind == want["kind"]
    assert chunk_payload(data, read_header(data))[0] == want["codec_id"]
    got = values.tolist()
    exp = _load(kind, want["values"])
    if kind == "float":
        assert [struct.pack("<d", v) for v in got] == [struct.pack("<d", v) for v in exp]
    else:
        assert got == exp


def test_every_encoding_has_a_golden_file():
    have = {(int(p.name[:3]), p.stem.rsplit("-", 1)[1]) for p in FILES}
    missing = [(e.codec_id, e.name, k) for e in registered() for k in e.kinds if (e.codec_id, k) not in have]
    assert not missing, f"run tools/make_golden.py: no golden chunk for {missing}"


def test_format_doc_lists_every_encoding():
    doc = (Path(__file__).resolve().parents[1] / "FORMAT.md").read_text()
    for e in registered():
        assert f"| {e.codec_id} | `{e.name}`" in doc, f"FORMAT.md lacks encoding {e.codec_id} {e.name}"


def test_header_size_is_part_of_the_format():
    assert HEADER_SIZE == 24
