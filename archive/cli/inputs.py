"""Ingest inputs: files or stdin, plain/gzip/zstd (by magic bytes), and their records.

Formats:

Without ``--format``: ``*.json`` files (also compressed) are sniffed — JSON lines when the first
line holds a complete value and another follows, else one JSON document; others are jsonl.

* ``jsonl`` — one JSON value per line (blank lines are skipped; a UTF-8 BOM on the first
  line is ignored).  Each value is a record.
* ``json``  — one JSON document: a top-level array gives one record per element; any
  other value (an object, typically) is one record.
* ``text``  — each line is a record without its ``\\n`` (a ``\\r`` stays): a ``str`` when the
  line is valid UTF-8, else ``bytes``.  A final line without ``\\n`` is flagged so export can
  reproduce the input byte for byte.

JSON is parsed with orjson.  orjson silently turns integers beyond 64 bits into floats, so a
line (document) holding a run of 19+ digits is parsed with the stdlib ``json`` instead, which
keeps integers exact; both reject NaN/Infinity and numbers overflowing a double.
"""
from __future__ import annotations

import gzip
import io
import itertools
import json
import math
import os
import re
import stat
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson
import zstandard

from archive.cli.output import CliError

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_BOM = b"\xef\xbb\xbf"
_LONG_DIGITS = re.compile(rb"(?<![\d.])\d{19,}(?![\d.eE])")


class BadLine(Exception):
    """A line (or document) that cannot be a record; ``reason`` says why."""


@dataclass
class Item:
    """One input record (or a bad line when ``error`` is set)."""
    record: Any
    loc: str  # "FILE:LINE" (jsonl/text) or "FILE: element N" (json)
    raw: bytes
    terminated: bool = True
    error: str | None = None


class _Counted(io.RawIOBase):
    """A raw reader over ``f`` that first replays ``head`` and counts the bytes it hands out."""

    def __init__(self, f: IO[bytes], head: bytes) -> None:
        self.f, self.head, self.count = f, head, len(head)
        self._read = getattr(f, "read1", f.read)

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self.head:
            n = min(len(b), len(self.head))
            b[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self._read(len(b))
        n = len(data)
        b[:n] = data
        self.count += n
        return n


class Input:
    """An opened input: ``stream`` yields decompressed bytes; ``raw.count`` bytes were read."""

    def __init__(self, name: str) -> None:
        self.name = "<stdin>" if name == "-" else name
        self.size: int | None = None
        self.decompressed = 0  # bytes of (decompressed) content handed out so far
        if name == "-":
            stdin: Any = sys.stdin
            self._file: Any = getattr(stdin, "buffer", stdin)
            self._owned = False
        else:
            try:
                self._file = open(name, "rb")  # noqa: SIM115 (closed by close())
            except OSError as e:
                raise CliError(f"cannot read {name}: {e.strerror or e}") from None
            self._owned = True
            st = os.fstat(self._file.fileno())
            if stat.S_ISREG(st.st_mode):
                self.size = st.st_size
        head = self._file.read(4)
        self.raw = _Counted(self._file, head)
        buffered = io.BufferedReader(self.raw, 1 << 16)
        self.compression = ("gzip" if head.startswith(GZIP_MAGIC)
                            else "zstd" if head.startswith(ZSTD_MAGIC) else None)
        self.stream: Any
        if self.compression == "gzip":
            self.stream = gzip.GzipFile(fileobj=buffered, mode="rb")
        elif self.compression == "zstd":
            reader = zstandard.ZstdDecompressor().stream_reader(buffered, read_across_frames=True)
            self.stream = io.BufferedReader(reader, 1 << 16)  # type: ignore[arg-type]
        else:
            self.stream = buffered

    def close(self) -> None:
        if self._owned:
            self._file.close()

    def lines(self) -> Iterator[bytes]:
        """The input's lines, each with its ``\\n`` (the last may lack it)."""
        try:
            for line in self.stream:
                self.decompressed += len(line)
                yield line
        except (OSError, EOFError, zstandard.ZstdError) as e:
            raise CliError(f"{self.name}: cannot decompress ({self.compression}): {e}") from None

    def read_all(self) -> bytes:
        try:
            data = self.stream.read()
            self.decompressed += len(data)
            return data
        except (OSError, EOFError, zstandard.ZstdError) as e:
            raise CliError(f"{self.name}: cannot decompress ({self.compression}): {e}") from None


def guess_format(name: str) -> str:
    """``sniff`` for ``*.json`` (also ``.json.gz``/``.json.zst``), else ``jsonl``."""
    base = name.lower()
    for ext in (".gz", ".zst", ".zstd"):
        base = base.removesuffix(ext)
    return "sniff" if base.endswith(".json") else "jsonl"


# --------------------------------------------------------------------------- JSON parsing
def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise ValueError(f"number {text} overflows a double")
    return v


def parse_json(data: bytes, document: bool = False) -> Any:
    """A JSON value; big integers stay exact (see the module docstring).  Raises BadLine."""
    try:
        if _LONG_DIGITS.search(data) is None:
            return orjson.loads(data)
        return json.loads(data, parse_constant=_no_constant, parse_float=_finite_float)
    except json.JSONDecodeError as e:  # orjson's error derives from it too
        at = f"line {e.lineno} column {e.colno}" if document else f"column {e.colno}"
        raise BadLine(f"malformed JSON: {e.msg} ({at})") from None
    except (ValueError, RecursionError) as e:
        raise BadLine(f"malformed JSON: {e}") from None


# --------------------------------------------------------------------------- readers
def read_items(inp: Input, fmt: str) -> Iterator[Item]:
    """Items of one input in ``fmt`` (jsonl, json, text, or ``sniff``: a JSON document, or
    JSON lines when the first line holds a whole value and more follow); bad lines come as
    items with ``error`` set."""
    if fmt == "json":
        yield from _document(inp, inp.read_all())
    elif fmt == "sniff":
        lines = inp.lines()
        head: list[bytes] = []
        for line in lines:
            head.append(line)
            if line.strip():
                break
        try:
            parse_json(head[-1].removeprefix(_BOM) if head else b"")
        except BadLine:
            yield from _document(inp, b"".join(head) + inp.read_all())
            return
        for line in lines:
            head.append(line)
            if line.strip():
                yield from _lines(inp, itertools.chain(head, lines), "jsonl")
                return
        yield from _document(inp, b"".join(head))
    else:
        yield from _lines(inp, inp.lines(), fmt)


def _document(inp: Input, data: bytes) -> Iterator[Item]:
    data = data.removeprefix(_BOM)
    if not data.strip():
        return
    try:
        doc = parse_json(data, document=True)
    except BadLine as e:
        yield Item(None, inp.name, data, error=str(e))
        return
    if not isinstance(doc, list):
        yield Item(doc, inp.name, data)
        return
    for i, rec in enumerate(doc):
        yield Item(rec, f"{inp.name}: element {i}", b"")


def _lines(inp: Input, lines: Iterable[bytes], fmt: str) -> Iterator[Item]:
    lineno = 0
    for line in lines:
        lineno += 1
        terminated = line.endswith(b"\n")
        body = line[:-1] if terminated else line
        if fmt == "text":
            try:
                rec: Any = body.decode("utf-8")
            except UnicodeDecodeError:
                rec = body
            yield Item(rec, f"{inp.name}:{lineno}", body, terminated)
            continue
        if lineno == 1:
            body = body.removeprefix(_BOM)
        if not body.strip():
            continue
        try:
            yield Item(parse_json(body), f"{inp.name}:{lineno}", body)
        except BadLine as e:
            yield Item(None, f"{inp.name}:{lineno}", body, error=str(e))


def key_of(record: Any, path: tuple[str, ...]) -> str | bytes:
    """The key field at ``path`` of a record; BadLine when absent or not a string."""
    cur = record
    for k in path:
        if not isinstance(cur, dict) or k not in cur:
            raise BadLine(f"record has no key field {'.'.join(path)!r}")
        cur = cur[k]
    if not isinstance(cur, (str, bytes)):
        raise BadLine(f"key field {'.'.join(path)!r} is {type(cur).__name__}, not a string")
    return cur
