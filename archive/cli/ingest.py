"""``archive ingest``: records from files or stdin into an archive, in committed batches.

Every ``--batch`` records are appended with one ``extend`` and made durable with one
``commit``.  A bad line stops the ingest before its batch is appended (earlier batches stay
committed); with ``--skip-bad`` bad lines go to a side file instead.

Text ingests record which archive positions hold a final line that had no ``\\n`` in the
archive's user metadata, ``attrs["text"]["unterminated"]`` (a sorted list of positions), so
``export --format text`` reproduces the input byte for byte.  Positions are those at ingest
time: deleting records afterwards shifts them (compaction alone does not).
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import IO, Any

import archive
from archive.cli.inputs import BadLine, Input, Item, guess_format, key_of, read_items
from archive.cli.output import CliError, dumps, human_bytes
from archive.engine.housekeeping import parse_path
from archive.engine.settings import Settings
from archive.errors import BadInputError, KeyExistsError

_BAD_RECORD = (BadInputError, KeyExistsError, TypeError, ValueError)
_SHOWN_REJECTS = 10


class Progress:
    """A tqdm bar over input bytes (ETA when the total is known) with records/s; or nothing."""

    def __init__(self, total: int | None, enabled: bool) -> None:
        self.bar: Any = None
        self.start = time.monotonic()
        if not enabled:
            return
        try:
            from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]
        except ImportError:  # the optional 'progress' extra is not installed
            return
        self.bar = tqdm(total=total, unit="B", unit_scale=True, file=sys.stderr, desc="ingest",
                        dynamic_ncols=True, mininterval=0.25)

    def update(self, nbytes: int, records: int) -> None:
        if self.bar is None:
            return
        if nbytes > self.bar.n:
            self.bar.update(nbytes - self.bar.n)
        rate = records / max(time.monotonic() - self.start, 1e-9)
        self.bar.set_postfix_str(f"{records} records, {rate:,.0f} rec/s", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Ingester:
    def __init__(self, ar: archive.Archive, args: argparse.Namespace) -> None:
        self.ar = ar
        self.key_path = parse_path(args.key) if args.key else None
        self.batch_size = args.batch
        self.skip_bad = args.skip_bad
        self.rejects_path = args.rejects or f"{str(args.archive).rstrip('/')}.rejects"
        self._rejects: IO[bytes] | None = None
        self.batch: list[Item] = []
        self.keys: list[str | bytes] = []
        self.batch_keys: set[str | bytes] = set()
        self.committed = 0
        self.rejected = 0

    # --- records -------------------------------------------------------------------------
    def add(self, it: Item) -> None:
        if it.error is not None:
            self.bad(it, it.error)
            return
        if self.key_path is not None:
            try:
                k = key_of(it.record, self.key_path)
            except BadLine as e:
                self.bad(it, str(e))
                return
            if k in self.batch_keys or k in self.ar:
                self.bad(it, f"duplicate key {k!r}")
                return
            self.batch_keys.add(k)
            self.keys.append(k)
        self.batch.append(it)
        if len(self.batch) >= self.batch_size:
            self.flush()

    def bad(self, it: Item, reason: str) -> None:
        if not self.skip_bad:
            pending = len(self.batch)
            raise CliError(f"{it.loc}: {reason}; ingest stopped: {self.committed} records committed, "
                           f"{pending} pending in the unfinished batch discarded "
                           f"(--skip-bad skips bad lines)")
        self.rejected += 1
        if self._rejects is None:
            self._rejects = open(self.rejects_path, "wb")  # noqa: SIM115 (closed by close())
        raw = it.raw if it.raw or it.record is None else dumps(it.record)
        self._rejects.write(raw + b"\n")
        if self.rejected <= _SHOWN_REJECTS:
            print(f"archive: warning: {it.loc}: {reason} (rejected)", file=sys.stderr)

    def flush(self) -> None:
        """Append the batch with one extend and commit it."""
        if not self.batch:
            return
        keys = self.keys if self.key_path is not None else None
        try:
            rng = self.ar.extend([it.record for it in self.batch], keys)
            placed = list(zip(self.batch, rng))
        except _BAD_RECORD:
            placed = self._one_by_one(keys)
        ends = [pos for it, pos in placed if not it.terminated]
        if ends:
            attrs = self.ar.attrs
            text = attrs.get("text")
            text = dict(text) if isinstance(text, dict) else {}
            text["unterminated"] = sorted(set(text.get("unterminated", [])) | set(ends))
            attrs["text"] = text
            self.ar.set_attrs(attrs)
        self.ar.commit()
        self.committed += len(placed)
        self.batch, self.keys, self.batch_keys = [], [], set()

    def _one_by_one(self, keys: list | None) -> list[tuple[Item, int]]:
        """The batch failed as a whole: append record by record to find the bad ones."""
        placed = []
        for i, it in enumerate(self.batch):
            try:
                rng = self.ar.extend([it.record], None if keys is None else [keys[i]])
            except _BAD_RECORD as e:
                if not self.skip_bad:
                    self.ar.rollback()
                    self.batch = self.batch[:i]
                self.bad(it, f"cannot store record: {e}")
                continue
            placed.append((it, rng[0]))
        return placed

    def close(self) -> None:
        if self._rejects is not None:
            self._rejects.close()


def lock_timeout(wait: float) -> float | None:
    """``--wait`` seconds for another writer's lock (negative: wait forever)."""
    return None if wait < 0 else wait


def add_wait(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="wait this long for another writer to finish (default 0: fail at once; -1: forever)")


def _settings(pairs: list[str]) -> dict[str, int]:
    names = set(Settings.__dataclass_fields__)
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or name not in names:
            raise CliError(f"--setting expects NAME=INT with NAME one of {', '.join(sorted(names))}", 2)
        try:
            out[name] = int(value)
        except ValueError:
            raise CliError(f"--setting {name}: {value!r} is not an integer", 2) from None
    return out


def run(args: argparse.Namespace) -> int:
    names = args.files or ["-"]
    if args.batch < 1:
        raise CliError("--batch must be at least 1", 2)
    if args.key is not None and args.format == "text":
        raise CliError("--key cannot be used with --format text (text records are plain lines)", 2)
    if args.key is not None and not args.key:
        raise CliError("--key needs a field path", 2)
    settings = _settings(args.setting or [])
    inputs = [Input(n) for n in names]  # open all first: a missing file fails before any write
    sizes = [i.size for i in inputs]
    total = None if any(s is None for s in sizes) else sum(s or 0 for s in sizes)
    progress = Progress(total, sys.stderr.isatty() and not args.quiet and not args.no_progress)
    start = time.monotonic()
    done_raw = done_plain = 0
    try:
        with archive.open(args.archive, "a", lock_timeout=lock_timeout(args.wait), **settings) as ar:
            ing = Ingester(ar, args)
            try:
                for inp in inputs:
                    fmt = args.format or guess_format(inp.name)
                    for n, it in enumerate(read_items(inp, fmt), 1):
                        ing.add(it)
                        if not n & 1023:
                            progress.update(done_raw + inp.raw.count, ing.committed + len(ing.batch))
                    done_raw += inp.raw.count
                    done_plain += inp.decompressed
                    inp.close()
                ing.flush()
            finally:
                ing.close()
            progress.update(done_raw, ing.committed)
            archive_bytes = ar.stats()["total_bytes"]
    finally:
        progress.close()
        for inp in inputs:
            inp.close()
    secs = time.monotonic() - start
    if not args.quiet:
        packed = f", {human_bytes(done_raw)} compressed" if done_raw != done_plain else ""
        ratio = done_plain / archive_bytes if archive_bytes else 0.0
        line = (f"ingested {ing.committed} records: input {human_bytes(done_plain)}{packed}; "
                f"archive {human_bytes(archive_bytes)} ({archive_bytes} bytes), ratio {ratio:.2f}x; "
                f"{secs:.2f} s")
        if ing.rejected:
            line += f"; {ing.rejected} rejected (written to {ing.rejects_path})"
        print(line)
    return 0


EPILOG = """\
examples:
  archive ingest logs.ar app.jsonl more.jsonl.gz      # JSON lines, plain/gzip/zstd
  zcat dns.json.gz | archive ingest dns.ar --key uid  # from stdin, keyed by a field
  archive ingest tweets.ar --format json twitter.json # a JSON array or a single object
  archive ingest sys.ar --format text syslog.log      # one str (or bytes) record per line
  archive ingest x.ar --skip-bad --rejects bad.txt data.jsonl

A bad line stops the ingest: batches committed before it stay, its batch is discarded and
the exit status is 1.  With --skip-bad, bad lines are written to the rejects file
(default ARCHIVE.rejects) and counted in the summary.  Text ingests remember a final line
without newline (attrs["text"]["unterminated"]) so `export --format text` is byte-exact.
"""


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("ingest", parents=[common], help="append records from files or stdin",
                       description="Append JSON lines, a JSON document or text lines to ARCHIVE "
                                   "(created when missing).", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("archive", metavar="ARCHIVE", help="archive directory (created when missing)")
    p.add_argument("files", metavar="FILE", nargs="*",
                   help="input files, plain, .gz or .zst (detected by magic bytes); - or none: stdin")
    p.add_argument("--format", choices=("jsonl", "json", "text"),
                   help="input format (default: jsonl; *.json[.gz|.zst] files are sniffed: a JSON document or JSON lines)")
    p.add_argument("--key", metavar="PATH", help="take each record's key from this (dotted) field")
    p.add_argument("--batch", type=int, default=10000, metavar="N",
                   help="records per extend+commit (default 10000)")
    p.add_argument("--skip-bad", action="store_true", help="skip bad lines instead of stopping")
    p.add_argument("--rejects", metavar="PATH", help="where --skip-bad writes bad lines "
                                                     "(default ARCHIVE.rejects)")
    p.add_argument("--setting", action="append", metavar="NAME=INT",
                   help="archive setting at creation (e.g. zstd_level=19, group_rows=50000)")
    add_wait(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")
    p.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    p.set_defaults(func=run)
