"""``archive stats | verify | compact``: looking after an archive."""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any

import archive
from archive.cli.commands import open_reader
from archive.cli.ingest import add_wait, lock_timeout
from archive.cli.output import CliError, human_bytes, render_table

_RAW = argparse.RawDescriptionHelpFormatter
#: The value type each column slot holds (``tag`` only says which type each value has).
SLOT_TYPE = {"bool": "bool", "int": "int", "big": "int", "float": "float", "str": "str",
             "bytes": "bytes", "len": "list", "shape": "dict"}


def by_path(stats: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """stats()["columns"] (one entry per path and slot) summed per path."""
    out: dict[str, dict[str, Any]] = {}
    for c in stats["columns"].values():
        p = out.setdefault(c["path"], {"types": [], "slots": [], "encodings": Counter(), "chunks": 0,
                                       "raw_bytes": 0, "stored_bytes": 0})
        p["slots"].append(c["slot"])
        t = SLOT_TYPE.get(c["slot"])
        if t and t not in p["types"]:
            p["types"].append(t)
        p["encodings"].update(c["encodings"])
        for f in ("chunks", "raw_bytes", "stored_bytes"):
            p[f] += c[f]
    for p in out.values():
        p["types"] = p["types"] or ["null"]  # only a tag column: every value is null
        p["encodings"] = dict(p["encodings"])
    return out


def _ratio(raw: int, stored: int) -> str:
    return f"{raw / stored:.2f}x" if stored else "-"


def _encodings(enc: dict[str, int]) -> str:
    return ", ".join(f"{name}×{n}" for name, n in sorted(enc.items(), key=lambda kv: -kv[1]))


def run_stats(args: argparse.Namespace) -> int:
    with open_reader(args.archive) as ar:
        st = ar.stats()
        attrs = ar.attrs
    paths = by_path(st)
    if args.json:
        st = dict(st, paths=paths, attrs=attrs)
        sys.stdout.write(json.dumps(st, indent=2, sort_keys=False, default=str) + "\n")
        return 0
    raw = sum(p["raw_bytes"] for p in paths.values())
    stored = sum(p["stored_bytes"] for p in paths.values())
    w = sys.stdout.write
    w(f"archive {args.archive}: {st['records']} records ({st['rows']} rows, {st['deleted']} deleted), "
      f"{st['groups']} groups, {len(paths)} columns\n\n")
    if args.slots:
        header = ["column", "slot", "encodings", "chunks", "values", "raw", "stored", "ratio"]
        rows = [[c["path"], c["slot"], _encodings(c["encodings"]), str(c["chunks"]), str(c["values"]),
                 human_bytes(c["raw_bytes"]), human_bytes(c["stored_bytes"]),
                 _ratio(c["raw_bytes"], c["stored_bytes"])] for c in st["columns"].values()]
    else:
        header = ["column", "types", "encodings", "chunks", "raw", "stored", "ratio"]
        rows = [[path, "|".join(p["types"]), _encodings(p["encodings"]), str(p["chunks"]),
                 human_bytes(p["raw_bytes"]), human_bytes(p["stored_bytes"]),
                 _ratio(p["raw_bytes"], p["stored_bytes"])] for path, p in paths.items()]
    rows.append(["(all columns)", "", "", str(sum(c["chunks"] for c in st["columns"].values())),
                 human_bytes(raw), human_bytes(stored), _ratio(raw, stored)]
                if not args.slots else
                ["(all columns)", "", "", str(sum(c["chunks"] for c in st["columns"].values())), "",
                 human_bytes(raw), human_bytes(stored), _ratio(raw, stored)])
    w(render_table(header, rows, max_width=60))
    w("\n")
    frows = [[name, human_bytes(f["bytes"]), str(f["bytes"]), str(f["segments"]), str(f["chunks"])]
             for name, f in sorted(st["files"].items())]
    w(render_table(["segment file", "size", "bytes", "segments", "chunks"], frows))
    w(f"\nsegments {human_bytes(st['segment_bytes'])}, index {human_bytes(st['index_bytes'])}, "
      f"total {human_bytes(st['total_bytes'])} ({st['total_bytes']} bytes); "
      f"column data {human_bytes(raw)} before compression, ratio {_ratio(raw, st['total_bytes'])} "
      f"on the total\n")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    try:
        ar = open_reader(args.archive)
    except archive.ArchiveError as e:  # an index too damaged to open is a verify finding too
        print(f"damaged: {e}")
        raise CliError(f"{args.archive} is damaged: cannot open it") from None
    with ar:
        problems = ar.verify()
        if problems:
            for p in problems:
                print(p)
            raise CliError(f"{args.archive} is damaged: {len(problems)} problem(s) found")
        st = ar.stats()
    chunks = sum(c["chunks"] for c in st["columns"].values())
    print(f"ok: {st['records']} records, {chunks} chunks verified")
    return 0


def run_compact(args: argparse.Namespace) -> int:
    open_reader(args.archive).close()  # a missing archive is an error, not a new empty one
    with archive.open(args.archive, "a", lock_timeout=lock_timeout(args.wait)) as ar:
        before = ar.stats()
        ar.compact()
        after = ar.stats()
        n = len(ar)
    seg = (before["segment_bytes"], after["segment_bytes"])
    total = (before["total_bytes"], after["total_bytes"])
    print(f"compacted {args.archive}: {n} records; segments {human_bytes(seg[0])} -> {human_bytes(seg[1])} "
          f"({seg[0]} -> {seg[1]} bytes); total with index {human_bytes(total[0])} -> {human_bytes(total[1])}")
    return 0


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("stats", parents=[common], formatter_class=_RAW, help="sizes, types and encodings",
                       description="Per column: value types, encodings used (× how many chunks), bytes "
                                   "before/after compression and the ratio; per segment file; totals.",
                       epilog="examples:\n  archive stats dns.ar\n  archive stats dns.ar --slots\n"
                              "  archive stats dns.ar --json | jq .total_bytes\n")
    p.add_argument("archive", metavar="ARCHIVE")
    p.add_argument("--json", action="store_true", help="machine-readable output (stats() + per path)")
    p.add_argument("--slots", action="store_true", help="one row per physical column (path and slot)")
    p.set_defaults(func=run_stats)

    p = sub.add_parser("verify", parents=[common], formatter_class=_RAW, help="check every chunk",
                       description="Decode every chunk and check the index against the files.",
                       epilog="examples:\n  archive verify dns.ar && echo fine\n\n"
                              "Prints each problem; exit status 1 when anything is damaged.\n")
    p.add_argument("archive", metavar="ARCHIVE")
    p.set_defaults(func=run_verify)

    p = sub.add_parser("compact", parents=[common], formatter_class=_RAW,
                       help="reclaim the space of deleted and replaced records",
                       description="Rewrite the live records into fresh segment files.",
                       epilog="examples:\n  archive compact dns.ar\n  archive compact dns.ar --wait 60\n")
    p.add_argument("archive", metavar="ARCHIVE")
    add_wait(p)
    p.set_defaults(func=run_compact)
