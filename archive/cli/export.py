"""``archive export``: the whole archive as JSON lines, text lines or a Parquet file.

* ``jsonl``: one JSON record per line (bytes and NaN/inf encoded, see archive.cli.output).
* ``text``: str records as UTF-8 lines, bytes records as they are, anything else as a JSON
  line; a record flagged unterminated at ingest (``attrs["text"]["unterminated"]``) gets no
  ``\\n``, so ``ingest --format text`` then ``export --format text`` gives back the same bytes.
* ``parquet`` (needs pyarrow: ``pip install 'archive[arrow]'``): streamed batch by batch
  through :func:`archive.arrow.to_arrow`, whose schema rules apply: one column per top-level
  key (a single ``_value`` column when some records are not dicts); a node whose values mix
  types (str and int, dict and list, ...) or holds ints beyond 64 bits becomes a string column
  of each value's JSON text (field metadata ``archive.json``); int+float becomes float64.
  Additionally a top-level field containing a struct without fields (a node that only ever
  held ``{}``), which Parquet cannot store, is written as JSON text too.
"""
from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from typing import IO, Any

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
def _has_empty_struct(pa: Any, t: Any) -> bool:
    if pa.types.is_struct(t):
        return t.num_fields == 0 or any(_has_empty_struct(pa, t.field(i).type) for i in range(t.num_fields))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _has_empty_struct(pa, t.value_type)
    return False


def write_parquet(ar: Any, path: str) -> int:
    """Stream the archive through :func:`archive.arrow.to_arrow` into a Parquet file."""
    import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
    import pyarrow.parquet as pq  # type: ignore[import-untyped,unused-ignore]

    from archive.arrow import infer_schema, to_arrow

    # Parquet cannot store a struct without fields (a node only ever holding {}): JSON text.
    inferred = infer_schema(ar)
    schema = pa.schema([pa.field(f.name, pa.string(), metadata={b"archive.json": b"1"})
                        if _has_empty_struct(pa, f.type) else f for f in inferred], metadata=inferred.metadata)
    reader = to_arrow(ar, schema=schema)
    n = 0
    with pq.ParquetWriter(path, reader.schema) as w:
        for batch in reader:
            w.write_batch(batch)
            n += batch.num_rows
    return n


# --------------------------------------------------------------------------- command
def run(args: argparse.Namespace) -> int:
    fmt = args.format or ("parquet" if args.out.lower().endswith(".parquet") else "jsonl")
    if fmt == "parquet":
        try:
            import pyarrow
            import pyarrow.parquet  # noqa: F401
        except ImportError:
            raise CliError(ARROW_HINT, 2) from None
        if args.out == "-":
            raise CliError("parquet cannot be written to stdout: give an output file", 2)
    with open_reader(args.archive) as ar:
        if fmt == "parquet":
            tmp = f"{args.out}.tmp-{os.getpid()}"
            try:
                write_parquet(ar, tmp)
                os.replace(tmp, args.out)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            return 0
        text = ar.attrs.get("text")
        ends = set(text.get("unterminated", [])) if isinstance(text, dict) else set()
        out = binary_stdout() if args.out == "-" else open(args.out, "wb")  # noqa: SIM115
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
                       description="Write every record of ARCHIVE to OUT, in position order.\n\n"
                                   + (__doc__.split("\n", 1)[1].strip() if __doc__ else ""),
                       epilog="examples:\n  archive export dns.ar dns.jsonl\n"
                              "  archive export sys.ar --format text - | less\n"
                              "  archive export dns.ar --format parquet dns.parquet\n")
    p.add_argument("archive", metavar="ARCHIVE")
    p.add_argument("out", metavar="OUT", help="output file; - for stdout (jsonl and text)")
    p.add_argument("--format", choices=("jsonl", "text", "parquet"),
                   help="default: parquet for *.parquet, else jsonl")
    p.set_defaults(func=run)
