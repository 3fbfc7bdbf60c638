"""Rendering for the command line: JSON lines, CSV, tables, column specs, byte sizes.

JSON output encoding (``get``, ``scan``, ``grep``, ``export --format jsonl``): records are
printed as compact JSON, one per line, UTF-8.  Values JSON cannot hold are written as tagged
objects so nothing is silently lost:

* ``bytes``  -> ``{"$bytes": "<standard base64>"}``
* NaN / +inf / -inf floats -> ``{"$float": "nan"}`` / ``{"$float": "inf"}`` / ``{"$float": "-inf"}``
* integers of any size are written as JSON integers (beyond 64 bits too).

The encoding is one-way: ``ingest`` does not turn such objects back into bytes or floats.
"""
from __future__ import annotations

import base64
import csv
import io
import json
import math
import sys
from collections.abc import Iterable, Sequence
from typing import IO, Any

import numpy as np
import orjson

from archive.query.values import MISSING, lookup


class CliError(Exception):
    """A user-facing error: printed as one ``archive: error: ...`` line, exit ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------- JSON encoding
def jsonable(v: Any) -> Any:
    """``v`` with bytes and non-finite floats replaced by their tagged-object encoding."""
    t = type(v)
    if t is str or t is int or t is bool or v is None:
        return v
    if t is float:
        if math.isfinite(v):
            return v
        return {"$float": "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")}
    if t is dict:
        return {k: jsonable(x) for k, x in v.items()}
    if t is list or t is tuple:
        return [jsonable(x) for x in v]
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(v)).decode("ascii")}
    if isinstance(v, np.generic):
        return jsonable(v.item())
    return v


def _default(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray, memoryview, np.generic)):
        return jsonable(v)
    raise TypeError(f"cannot encode {type(v).__name__}")


def dumps(record: Any) -> bytes:
    """One record as compact JSON bytes (no newline), using the encoding above."""
    try:
        out = orjson.dumps(record, default=_default)
        if b"null" not in out:  # orjson writes NaN/inf as null: only then look closer
            return out
    except TypeError:
        pass
    obj = jsonable(record)
    try:
        return orjson.dumps(obj)
    except TypeError:  # ints beyond 64 bits, lone surrogates: the stdlib handles both
        return json.dumps(obj, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode()


def cell(v: Any) -> str:
    """A value as one CSV/table cell: strings as-is, absent/null empty, the rest as JSON."""
    if v is MISSING or v is None:
        return ""
    if isinstance(v, str):
        return v
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return dumps(v).decode("utf-8")


# --------------------------------------------------------------------------- stdout
def binary_stdout() -> Any:
    """The binary stream under ``sys.stdout`` (flushed first so text and bytes stay in order)."""
    sys.stdout.flush()
    buf = getattr(sys.stdout, "buffer", None)
    return buf if buf is not None else _TextAsBinary(sys.stdout)


class _TextAsBinary:
    def __init__(self, text: IO[str]) -> None:
        self.text = text

    def write(self, b: bytes) -> int:
        self.text.write(b.decode("utf-8", "surrogateescape"))
        return len(b)

    def flush(self) -> None:
        self.text.flush()


def write_jsonl(records: Iterable[Any], out: IO[bytes], batch: int = 1024) -> int:
    """Write records as JSON lines; returns how many."""
    n = 0
    buf: list[bytes] = []
    for rec in records:
        buf.append(dumps(rec))
        n += 1
        if len(buf) >= batch:
            out.write(b"\n".join(buf) + b"\n")
            buf.clear()
    if buf:
        out.write(b"\n".join(buf) + b"\n")
    out.flush()
    return n


# --------------------------------------------------------------------------- column specs
def split_columns(text: str) -> list[str]:
    """Split a ``--columns`` list on commas outside backquotes."""
    parts: list[str] = []
    cur: list[str] = []
    quoted = False
    for c in text:
        if c == "`":
            quoted = not quoted
        if c == "," and not quoted:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
    parts.append("".join(cur).strip())
    if quoted:
        raise CliError(f"unterminated backquote in column list {text!r}", 2)
    if any(not p for p in parts):
        raise CliError(f"empty column name in {text!r}", 2)
    return parts


def parse_column(spec: str) -> tuple[str, ...]:
    """A column spec as a path tuple: dots separate keys; a backquoted part is taken
    literally (dots and commas included; a doubled backquote is one backquote):
    ``a.b`` -> ("a", "b"), ```id.orig_h``` -> ("id.orig_h",), ``a.`x.y`.b`` -> ("a", "x.y", "b")."""
    keys: list[str] = []
    cur: list[str] = []
    i, n = 0, len(spec)
    while i < n:
        c = spec[i]
        if c == "`":
            j = i + 1
            while True:
                if j >= n:
                    raise CliError(f"unterminated backquote in column {spec!r}", 2)
                if spec[j] == "`":
                    if j + 1 < n and spec[j + 1] == "`":
                        cur.append("`")
                        j += 2
                        continue
                    break
                cur.append(spec[j])
                j += 1
            i = j + 1
        elif c == ".":
            keys.append("".join(cur))
            cur = []
            i += 1
        else:
            cur.append(c)
            i += 1
    keys.append("".join(cur))
    if not spec:
        raise CliError("empty column name", 2)
    return tuple(keys)


# --------------------------------------------------------------------------- rows
def header_and_rows(records: Sequence[Any], specs: list[str] | None,
                    paths: list[tuple[str, ...]] | None) -> tuple[list[str], list[list[str]]]:
    """Table cells: the given columns, or every top-level key seen (``$`` for non-dict records)."""
    if paths is None:
        names: dict[str, None] = {}
        for r in records:
            if isinstance(r, dict):
                names.update(dict.fromkeys(r))
            else:
                names["$"] = None
        specs = list(names)
        paths = [(k,) for k in specs]
        rows = [[cell(r.get(k, MISSING)) if isinstance(r, dict) else (cell(r) if k == "$" else "")
                 for k in specs] for r in records]
        return specs, rows
    assert specs is not None
    return specs, [[cell(lookup(r, p)) for p in paths] for r in records]


def write_csv(out: IO[str], header: list[str], rows: Iterable[list[str]]) -> None:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)


def render_table(header: list[str], rows: list[list[str]], max_width: int = 40) -> str:
    """A plain-text table with a header rule; long cells are cut with an ellipsis."""
    def fit(s: str) -> str:
        s = s.replace("\n", "\\n").replace("\r", "\\r").replace("\t", " ")
        return s if len(s) <= max_width else s[: max_width - 1] + "…"
    head = [fit(h) for h in header]
    body = [[fit(c) for c in r] for r in rows]
    widths = [max([len(head[i])] + [len(r[i]) for r in body]) for i in range(len(head))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in body]
    return "\n".join(lines) + "\n"


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def csv_text(header: list[str], rows: Iterable[list[str]]) -> str:
    buf = io.StringIO()
    write_csv(buf, header, rows)
    return buf.getvalue()
