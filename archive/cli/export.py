"""``archive export``: the whole archive as JSON lines, text lines or a Parquet file.

* ``jsonl``: one JSON record per line (bytes and NaN/inf encoded, see archive.cli.output).
* ``text``: str records as UTF-8 lines, bytes records as they are, anything else as a JSON
  line; a record flagged unterminated at ingest (``attrs["text"]["unterminated"]``) gets no
  ``\\n``, so ``ingest --format text`` then ``export --format text`` gives back the same bytes.
* ``parquet`` (needs pyarrow: ``pip install 'archive[arrow]'``): one column per top-level key
  (non-dict records go to a column named ``$``); each column is converted with
  ``pyarrow.array``.  A column whose values mix types (str and int, str and bytes, ...), that
  pyarrow cannot type (ints beyond 64 bits, conflicting nested types) or that Parquet cannot
  store (empty structs) is written as a string column holding each value's JSON text (null
  stays null).  Records are converted in batches; a column whose batches got different types
  is unified when pyarrow can (int and float -> float), else JSON-encoded too.  The whole
  table is built in memory before it is written.
"""
from __future__ import annotations

import argparse
import os
from itertools import islice
from typing import IO, Any, Iterable

from archive.cli.commands import open_reader
from archive.cli.output import CliError, binary_stdout, dumps, write_jsonl

_RAW = argparse.RawDescriptionHelpFormatter
ARROW_HINT = "parquet export needs pyarrow, which is not installed: pip install 'archive[arrow]'"


def write_text(records: Iterable[Any], unterminated: set[int], out: IO[bytes]) -> int:
    n = 0
    buf: list[bytes] = []
    for rec in records:
        if isinstance(rec, str):
            b = rec.encode("utf-8", "surrogatepass")
        elif isinstance(rec, bytes):
            b = rec
        else:
            b = dumps(rec)
        buf.append(b if n in unterminated else b + b"\n")
        n += 1
        if len(buf) >= 4096:
            out.write(b"".join(buf))
            buf.clear()
    out.write(b"".join(buf))
    out.flush()
    return n


# --------------------------------------------------------------------------- parquet
def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    return type(v).__name__


def _has_empty_struct(pa: Any, t: Any) -> bool:
    if pa.types.is_struct(t):
        return t.num_fields == 0 or any(_has_empty_struct(pa, t.field(i).type) for i in range(t.num_fields))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _has_empty_struct(pa, t.value_type)
    return False


def _json_array(pa: Any, vals: list) -> Any:
    return pa.array([None if v is None else dumps(v).decode("utf-8") for v in vals], pa.string())


def _column(pa: Any, vals: list) -> tuple[Any, bool]:
    """(arrow array, JSON-encoded?) for one column of one batch."""
    if len({_kind(v) for v in vals if v is not None}) > 1:
        return _json_array(pa, vals), True
    try:
        arr = pa.array(vals)
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        return _json_array(pa, vals), True
    if _has_empty_struct(pa, arr.type):
        return _json_array(pa, vals), True
    return arr, False


def _combine(pa: Any, name: str, chunks: list[tuple[Any, bool]]) -> Any:
    types = {a.type for a, _ in chunks if a.type != pa.null()}
    if not types:
        return pa.chunked_array([a for a, _ in chunks], pa.null())
    if not any(j for _, j in chunks):
        try:
            schema = pa.unify_schemas([pa.schema([(name, t)]) for t in types], promote_options="permissive")
            t = schema.field(name).type
            return pa.chunked_array([pa.nulls(len(a), t) if a.type == pa.null() else a.cast(t)
                                     for a, _ in chunks], t)
        except (pa.ArrowException, TypeError, ValueError):
            pass
    return pa.chunked_array([a if j else _json_array(pa, a.to_pylist()) for a, j in chunks], pa.string())


def write_parquet(records: Iterable[Any], path: str, batch: int = 65536) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: dict[str, list[tuple[Any, bool]]] = {}
    total = 0
    it = iter(records)
    while chunk := list(islice(it, batch)):
        n = len(chunk)
        names: dict[str, None] = {}
        for r in chunk:
            names.update(dict.fromkeys(r) if isinstance(r, dict) else {"$": None})
        for name in names:
            vals = [r.get(name) if isinstance(r, dict) else (r if name == "$" else None) for r in chunk]
            if name not in columns:
                columns[name] = [(pa.nulls(total), False)] if total else []
            columns[name].append(_column(pa, vals))
        for name, chunks in columns.items():
            if name not in names:
                chunks.append((pa.nulls(n), False))
        total += n
    table = pa.table({name: _combine(pa, name, chunks) for name, chunks in columns.items()})
    if not columns:
        table = pa.table({})
    pq.write_table(table, path)
    return total


# --------------------------------------------------------------------------- command
def run(args: argparse.Namespace) -> int:
    fmt = args.format or ("parquet" if args.out.lower().endswith(".parquet") else "jsonl")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
            import pyarrow.parquet  # noqa: F401
        except ImportError:
            raise CliError(ARROW_HINT, 2) from None
        if args.out == "-":
            raise CliError("parquet cannot be written to stdout: give an output file", 2)
    with open_reader(args.archive) as ar:
        if fmt == "parquet":
            tmp = f"{args.out}.tmp-{os.getpid()}"
            try:
                write_parquet(ar.scan(), tmp)
                os.replace(tmp, args.out)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            return 0
        text = ar.attrs.get("text")
        ends = set(text.get("unterminated", [])) if isinstance(text, dict) else set()
        out = binary_stdout() if args.out == "-" else open(args.out, "wb")
        try:
            if fmt == "text":
                write_text(ar.scan(), ends, out)
            else:
                write_jsonl(ar.scan(), out)
        finally:
            if args.out != "-":
                out.close()
    return 0


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("export", parents=[common], formatter_class=_RAW, help="write out every record",
                       description=__doc__.split("\n", 1)[1] if __doc__ else None,
                       epilog="examples:\n  archive export dns.ar dns.jsonl\n"
                              "  archive export sys.ar --format text - | less\n"
                              "  archive export dns.ar --format parquet dns.parquet\n")
    p.add_argument("archive", metavar="ARCHIVE")
    p.add_argument("out", metavar="OUT", help="output file; - for stdout (jsonl and text)")
    p.add_argument("--format", choices=("jsonl", "text", "parquet"),
                   help="default: parquet for *.parquet, else jsonl")
    p.set_defaults(func=run)
