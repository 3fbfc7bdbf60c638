"""``archive get | scan | grep``: reading records out as JSON lines, CSV or a table."""
from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from itertools import islice
from typing import Any

import archive
from archive.cli.output import (
    CliError,
    binary_stdout,
    dumps,
    header_and_rows,
    parse_column,
    render_table,
    split_columns,
    write_csv,
    write_jsonl,
)
from archive.query import parse as parse_where
from archive.query.values import format_literal, format_path

_RAW = argparse.RawDescriptionHelpFormatter
JSON_NOTE = """\
Records are printed as JSON, one per line.  bytes values are written as
{"$bytes": "<base64>"} and NaN/inf floats as {"$float": "nan"|"inf"|"-inf"};
integers of any size stay JSON integers.
"""


def open_reader(path: str) -> archive.Archive:
    try:
        return archive.open(path, "r")
    except archive.ArchiveNotFoundError:
        raise CliError(f"no archive at {path}") from None


def _limit(n: int | None) -> int | None:
    if n is not None and n < 0:
        raise CliError("--limit must be >= 0", 2)
    return n


# --------------------------------------------------------------------------- get
def run_get(args: argparse.Namespace) -> int:
    if not args.positions and not args.key:
        raise CliError("give positions or --key KEY", 2)
    with open_reader(args.archive) as ar:
        out = binary_stdout()
        if args.positions:
            try:
                recs = ar.take(args.positions)
            except IndexError as e:
                raise CliError(str(e)) from None
            write_jsonl(recs, out)
        missing = []
        if args.key:
            recs = ar.get_many(args.key)
            found = []
            for k, r in zip(args.key, recs):
                if r is None and k not in ar:
                    missing.append(k)
                else:
                    found.append(r)
            write_jsonl(found, out)
    if missing:
        raise CliError("key not found: " + ", ".join(repr(k) for k in missing))
    return 0


# --------------------------------------------------------------------------- scan
def _records(ar: archive.Archive, args: argparse.Namespace) -> tuple[Iterator[Any], list[str] | None,
                                                                     list[tuple[str, ...]] | None]:
    specs = split_columns(args.columns) if args.columns else None
    paths = [parse_column(s) for s in specs] if specs else None
    specs = [".".join(p) for p in paths] if paths else None  # header names: `a.b` shows as a.b
    it = ar.scan(columns=paths, where=args.where)
    limit = _limit(args.limit)
    return (it if limit is None else islice(it, limit)), specs, paths


def emit(records: Iterator[Any], fmt: str, specs: list[str] | None,
         paths: list[tuple[str, ...]] | None) -> int:
    if fmt == "jsonl":
        return write_jsonl(records, binary_stdout())
    if fmt == "csv" and paths is not None:  # known columns: stream
        header, _ = header_and_rows([], specs, paths)
        n = 0

        def stream_rows() -> Iterator[list[str]]:
            nonlocal n
            for chunk in iter(lambda: list(islice(records, 1024)), []):
                n += len(chunk)
                yield from header_and_rows(chunk, specs, paths)[1]
        write_csv(sys.stdout, header, stream_rows())
        return n
    recs = list(records)
    header, rows = header_and_rows(recs, specs, paths)
    if fmt == "csv":
        write_csv(sys.stdout, header, rows)
    else:
        sys.stdout.write(render_table(header, rows))
    return len(recs)


def run_scan(args: argparse.Namespace) -> int:
    with open_reader(args.archive) as ar:
        records, specs, paths = _records(ar, args)
        if args.count:
            print(sum(1 for _ in records))
            return 0
        emit(records, args.format, specs, paths)
    return 0


# --------------------------------------------------------------------------- grep
def _grep_where(path: tuple[str, ...], pattern: str, regex: bool, ignore_case: bool,
                errors: str = "strict") -> str:
    """``path contains "p" or path contains b"p"`` (or ``matches``), for str and bytes values.

    The bytes form is PATTERN encoded as UTF-8 with ``errors`` (left out when that fails).
    """
    if ignore_case:
        pattern, regex = "(?i)" + (pattern if regex else re.escape(pattern)), True
    op = "matches" if regex else "contains"
    col = format_path(path)
    alts = [f"{col} {op} {format_literal(pattern)}"]
    try:
        alts.append(f"{col} {op} {format_literal(pattern.encode('utf-8', errors))}")
    except UnicodeEncodeError:
        pass
    return " or ".join(alts)


def _text_archive(ar: archive.Archive) -> bool:
    """Do the records hold only text lines (root str / bytes values, or nothing yet)?"""
    return all(path == () and slot in ("tag", "str", "bytes") for path, slot in ar._view.columns)


def _root_where(pattern: str, regex: bool, ignore_case: bool) -> str | None:
    """The ``$`` form of the whole-record test of a text archive (None: keep the Python test).

    The Python test compiles PATTERN with ``re.IGNORECASE``; the where language spells that
    ``(?i)``, so the where form is used only when both compile (global flags inside PATTERN
    may refuse the prefix).
    """
    where = _grep_where((), pattern, regex, ignore_case, "surrogateescape")
    try:
        parse_where(where)
    except (ValueError, re.error):
        return None
    return where


def _root_filter(pattern: str, regex: bool, ignore_case: bool) -> Any:
    """A Python test on a whole record: str lines, bytes lines, else the record's JSON text."""
    flags = re.IGNORECASE if ignore_case else 0
    src = pattern if regex else re.escape(pattern)
    try:
        rx, brx = re.compile(src, flags), re.compile(src.encode("utf-8", "surrogateescape"), flags)
    except re.error as e:
        raise CliError(f"bad regular expression {pattern!r}: {e}", 2) from None

    def test(rec: Any) -> bool:
        if isinstance(rec, str):
            return rx.search(rec) is not None
        if isinstance(rec, bytes):
            return brx.search(rec) is not None
        return brx.search(dumps(rec)) is not None
    return test


def run_grep(args: argparse.Namespace) -> int:
    limit = _limit(args.limit)
    where: str | None
    with open_reader(args.archive) as ar:
        if args.column:
            if args.regex:
                try:
                    re.compile(args.pattern)
                except re.error as e:
                    raise CliError(f"bad regular expression {args.pattern!r}: {e}", 2) from None
            where = _grep_where(parse_column(args.column), args.pattern, args.regex, args.ignore_case)
            it: Iterator[Any] = ar.scan(where=where)
        else:
            test = _root_filter(args.pattern, args.regex, args.ignore_case)  # checks the regex
            where = _root_where(args.pattern, args.regex, args.ignore_case) if _text_archive(ar) else None
            if where is not None:  # lines: a scan of `$`, so template dictionaries prune groups
                it = ar.scan(where=where)
            else:  # records of any shape: their JSON text, tested in Python
                it = filter(test, ar.scan())
        if limit is not None:
            it = islice(it, limit)
        if args.count:
            n = sum(1 for _ in it)
            print(n)
            return 0 if n else 1
        out = binary_stdout()
        n = 0
        buf: list[bytes] = []
        for rec in it:
            n += 1
            buf.append(rec.encode("utf-8", "surrogatepass") if isinstance(rec, str)
                       else rec if isinstance(rec, bytes) else dumps(rec))
            if len(buf) >= 1024:
                out.write(b"\n".join(buf) + b"\n")
                buf.clear()
        if buf:
            out.write(b"\n".join(buf) + b"\n")
        out.flush()
    return 0 if n else 1


# --------------------------------------------------------------------------- parsers
def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("get", parents=[common], formatter_class=_RAW, help="records by position or key",
                       description="Print the records at positions (negative counts from the end) "
                                   "or under keys.",
                       epilog="examples:\n  archive get dns.ar 0 1 -1\n"
                              "  archive get dns.ar --key CqKst53mF3det3eDV9\n\n" + JSON_NOTE +
                              "A missing key or position is an error (exit 1).\n")
    p.add_argument("archive", metavar="ARCHIVE")
    p.add_argument("positions", metavar="POS", type=int, nargs="*", help="record positions")
    p.add_argument("-k", "--key", action="extend", nargs="+", metavar="KEY", help="record keys")
    p.set_defaults(func=run_get)

    p = sub.add_parser("scan", parents=[common], formatter_class=_RAW, help="filter and project records",
                       description="Print records matching --where, projected to --columns.",
                       epilog="examples:\n"
                              "  archive scan dns.ar --where 'qtype_name == \"AAAA\"' --limit 5\n"
                              "  archive scan dns.ar --columns 'query,`id.orig_h`,rtt' --format table\n"
                              "  archive scan dns.ar --where 'rtt > 0.5' --count\n\n"
                              "--columns splits on commas; dots separate nested keys; a key holding\n"
                              "dots or commas is written in backquotes (`id.orig_h`).  The where\n"
                              "language is documented in archive.query (python -m pydoc archive.query).\n"
                              "csv/table cells: strings as-is, null/absent empty, other values as JSON;\n"
                              "without --columns the columns are the top-level keys ($ = non-dict records)\n"
                              "and the output is built in memory.\n\n" + JSON_NOTE)
    p.add_argument("archive", metavar="ARCHIVE")
    p.add_argument("--columns", metavar="A,B,...", help="project to these column paths")
    p.add_argument("--where", metavar="EXPR", help="filter expression")
    p.add_argument("--limit", type=int, metavar="N", help="stop after N records")
    p.add_argument("--format", choices=("jsonl", "csv", "table"), default="jsonl")
    p.add_argument("--count", action="store_true", help="print only the number of matches")
    p.set_defaults(func=run_scan)

    p = sub.add_parser("grep", parents=[common], formatter_class=_RAW, help="records containing a pattern",
                       description="Print records whose COLUMN (or, without --column, the whole record: "
                                   "the line of a text archive, else the record's JSON) contains PATTERN.",
                       epilog="examples:\n  archive grep sys.ar 'Failed password'\n"
                              "  archive grep sys.ar --regex 'error|fail' -i --limit 20\n"
                              "  archive grep dns.ar --column query wrccdc\n\n"
                              "  archive grep sys.ar --count 'session opened'\n\n"
                              "Text lines are printed as they are; other records as JSON lines.\n"
                              "On an archive of text lines the search is a scan of the where\n"
                              "expression '$ contains PATTERN' (or 'matches'): groups whose log\n"
                              "templates cannot hold PATTERN are skipped without decoding them.\n"
                              "Exit status: 0 when something matched, 1 when nothing did.\n")
    p.add_argument("archive", metavar="ARCHIVE")
    p.add_argument("pattern", metavar="PATTERN")
    p.add_argument("--column", metavar="PATH", help="search this column (str or bytes values)")
    p.add_argument("--regex", action="store_true", help="PATTERN is a Python regular expression")
    p.add_argument("-i", "--ignore-case", action="store_true")
    p.add_argument("--limit", type=int, metavar="N")
    p.add_argument("--count", action="store_true", help="print only the number of matching records")
    p.set_defaults(func=run_grep)
