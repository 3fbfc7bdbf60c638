"""Log archiving benchmark: loghub text logs through the codec vs gzip / zstd / xz.

For each ``*_2k.log`` file the lines (``data.split(b"\\n")``; ``str`` when the file is valid
UTF-8, else ``bytes``) go through :func:`archive.codec.chunk.encode_chunk` as one chunk, with
every encoding module imported so selection is real.  Reported per file and in total:

* our chunk size with zstd level 19 on top and with the default level 3, and which encoding
  won the selection;
* gzip -9, zstd -19 (python zstandard) and xz -9e (lzma preset 9 | EXTREME) of the whole file;
* encode and decode speed in lines/s (best of ``--repeat`` runs, CPU time) and the random
  access cost: decoding the chunk (ms) and that time amortized per line (us), plus the cost of
  indexing one random line of the decoded column.

Then whole archives (``archive.open``, ``group_rows`` 4096, default settings otherwise), for
``loghub-all`` (every file's lines in one archive) and ``generated`` (``--gen-lines`` lines,
1M by default, made by :func:`generate_log` from the loghub lines: each line's variable
tokens -- the tokenizer's, see archive.codec.logparse -- replaced by random ones of the same
length and alphabet, seeded; blocks of 500..5000 consecutive lines of one file):

* bytes on disk (segment files + LMDB index) vs gzip -9, zstd -19 and xz -9 of the raw text;
* write speed; ``ar[i]`` latency, p50/p99 wall time: *cold* (the group cache dropped before
  each read: the group's chunks are decoded) and *warm* (rows of an already decoded group);
* grep: for each pattern, the time to list the matching lines with
  ``ar.scan(where='$ contains P or $ contains b"P"')`` (what ``archive grep`` runs; groups
  whose template dictionaries rule P out are skipped, archive.engine.grep) on a freshly
  opened archive, the same scan with that pruning off, ``zstd -d`` (python zstandard) of the
  zstd -19 file + Python ``re`` over the text (``(?m)^.*P.*$``), and ``zstd -dc | grep -c -F``
  when the zstd CLI exists (best of ``--repeat``, wall time).  Match counts are checked equal.

Usage::

    .venv/bin/python tools/bench_logs.py [--data DIR] [--json OUT] [--repeat N]
        [--gen-lines N] [--group-rows N] [--no-archives]
"""
from __future__ import annotations

import argparse
import gzip
import json
import lzma
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import zstandard

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import archive
from archive.codec import registry
from archive.codec.chunk import chunk_payload, decode_chunk, encode_chunk
from archive.codec.logparse import STR_OPS
from archive.codec.templates import payload_templates
from archive.engine import grep as grep_mod
from archive.query.values import format_literal

GREP_PATTERNS = ["ERROR", "session opened", "blk_", "Exception", "10.251", "xyzzy"]


def load_lines(path: Path) -> tuple[str, np.ndarray]:
    data = path.read_bytes()
    raw = data.split(b"\n")
    try:
        items: list = [ln.decode("utf-8") for ln in raw]
        kind = "str"
    except UnicodeDecodeError:
        items, kind = raw, "bytes"
    values = np.empty(len(items), dtype=object)
    values[:] = items
    return kind, values


def best_of(fn, repeat: int) -> tuple[float, object]:
    """Best CPU time of ``repeat`` runs (process time: the machines are shared) and the result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t0)
    return best, out


def bench_file(path: Path, repeat: int) -> dict:
    data = path.read_bytes()
    kind, values = load_lines(path)
    n = len(values)
    t_enc, chunk3 = best_of(lambda: encode_chunk(kind, values, level=3), repeat)
    chunk19 = encode_chunk(kind, values, level=19)
    t_dec, (got_kind, out) = best_of(lambda: decode_chunk(chunk19), repeat)
    if got_kind != kind or out.tolist() != values.tolist():
        raise SystemExit(f"{path.name}: round trip FAILED")
    payload = chunk_payload(chunk19)
    enc = registry.get(payload[0])
    templates = len(payload_templates(payload)) if enc.name == "template" else None
    idx = [random.randrange(n) for _ in range(1000)]
    t0 = time.process_time()
    for i in idx:
        out[i]
    t_index = (time.process_time() - t0) / len(idx)
    return {
        "file": path.name,
        "kind": kind,
        "lines": n,
        "raw": len(data),
        "ours19": len(chunk19),
        "ours3": len(chunk3),
        "encoding": enc.name,
        "templates": templates,
        "gzip9": len(gzip.compress(data, 9)),
        "zstd19": len(zstandard.ZstdCompressor(level=19).compress(data)),
        "xz9e": len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)),
        "encode_s": t_enc,
        "decode_s": t_dec,
        "index_s": t_index,
    }


# --------------------------------------------------------------------------- whole archives
def generate_log(files: list[Path], n: int, seed: int = 1) -> list[str]:
    """``n`` log lines from the loghub lines with random variables (see the module docstring).

    Lines that are not UTF-8 are left out; tokens other than decimal / hex numbers (runs of
    reserved characters) are kept as they are.
    """
    rng = np.random.default_rng(seed)
    pools = []
    for f in files:
        proto = []
        for raw in f.read_bytes().split(b"\n"):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                continue
            parts = STR_OPS.split(line)
            kinds = []
            for t in parts[1::2]:
                if t.isdigit():
                    kinds.append(0)
                elif t[:1] == "-" and t[1:].isdigit():
                    kinds.append(1)
                elif all(c in "0123456789abcdef" for c in t):
                    kinds.append(2)
                elif all(c in "0123456789ABCDEF" for c in t):
                    kinds.append(3)
                else:
                    kinds.append(4)
            proto.append((parts, kinds))
        pools.append(proto)
    size = 1 << 22
    digits = "".join(map(str, rng.integers(0, 10, size).tolist()))
    hexes = "".join("0123456789abcdef"[i] for i in rng.integers(0, 16, size).tolist())
    alphabets = (digits, digits, hexes, hexes.upper())
    out: list[str] = []
    pos, limit = 0, size - 64
    while len(out) < n:
        pool = pools[int(rng.integers(len(pools)))]
        start = int(rng.integers(len(pool)))
        for k in range(int(rng.integers(500, 5001))):
            parts, kinds = pool[(start + k) % len(pool)]
            if not kinds:
                out.append(parts[0])
                continue
            p = parts[:]
            for j, kd in enumerate(kinds):
                if kd == 4:
                    continue
                m = len(p[2 * j + 1])
                if pos + m > limit:
                    pos = 0
                p[2 * j + 1] = ("-" + digits[pos:pos + m - 1]) if kd == 1 else alphabets[kd][pos:pos + m]
                pos += m
            out.append("".join(p))
    return out[:n]


def _records(lines: list) -> list:
    """str records for UTF-8 lines, bytes for the others (what ``archive ingest`` stores)."""
    out = []
    for ln in lines:
        if isinstance(ln, bytes):
            try:
                ln = ln.decode("utf-8")
            except UnicodeDecodeError:
                pass
        out.append(ln)
    return out


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs), q)) if xs else float("nan")


def _best_wall(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _latency(path: Path, seed: int, cold_n: int = 300, warm_groups: int = 20, warm_n: int = 100) -> dict:
    rng = random.Random(seed)
    with archive.open(path) as ar:
        n = len(ar)
        firsts = ar._view.group_first.tolist() + [n]
        cold = []
        for _ in range(cold_n):
            i = rng.randrange(n)
            ar._drop_cache()  # a fresh group: its chunks are read and decoded
            t0 = time.perf_counter()
            ar[i]
            cold.append(time.perf_counter() - t0)
        warm = []
        for _ in range(warm_groups):
            g = rng.randrange(len(firsts) - 1)
            ar[firsts[g]]
            for _ in range(warm_n):
                i = rng.randrange(firsts[g], firsts[g + 1])
                t0 = time.perf_counter()
                ar[i]
                warm.append(time.perf_counter() - t0)
    return {"cold_p50_us": _pct(cold, 50) * 1e6, "cold_p99_us": _pct(cold, 99) * 1e6,
            "warm_p50_us": _pct(warm, 50) * 1e6, "warm_p99_us": _pct(warm, 99) * 1e6}


def _grep_ours(path: Path, where: str, prune: bool) -> tuple[int, int, int]:
    """(matching lines, groups, groups skipped by the templates) of a scan on a fresh handle."""
    real = grep_mod.may_match_templates
    skipped = 0

    def counting(ar, g, expr):
        nonlocal skipped
        ok = real(ar, g, expr)
        skipped += not ok
        return ok
    grep_mod.may_match_templates = counting if prune else (lambda ar, g, expr: True)
    try:
        with archive.open(path) as ar:
            n = sum(1 for _ in ar.scan(where=where))
            groups = len(ar._view.group_first)
    finally:
        grep_mod.may_match_templates = real
    return n, groups, skipped


def _grep_rows(path: Path, zst: bytes, zst_file: Path, patterns: list[str], repeat: int) -> list[dict]:
    import re
    has_cli = shutil.which("zstd") is not None and shutil.which("grep") is not None
    dctx = zstandard.ZstdDecompressor()
    rows = []
    for pat in patterns:
        where = f"$ contains {format_literal(pat)} or $ contains {format_literal(pat.encode())}"
        t_ours, (n, groups, skipped) = _best_wall(lambda w=where: _grep_ours(path, w, True), repeat)
        t_full, (n_full, _, _) = _best_wall(lambda w=where: _grep_ours(path, w, False), 1)
        rx = re.compile(rb"(?m)^.*" + re.escape(pat.encode()) + rb".*$")
        t_re, n_re = _best_wall(lambda rx=rx: len(rx.findall(dctx.decompress(zst))), repeat)
        row = {"pattern": pat, "matches": n, "groups": groups, "groups_skipped": skipped,
               "ours_s": t_ours, "ours_noprune_s": t_full, "zstd_re_s": t_re}
        if not n == n_full == n_re:
            raise SystemExit(f"grep {pat!r}: {n} lines, {n_full} without pruning, {n_re} by zstd+re")
        if has_cli:
            cmd = f"zstd -dc -- {shlex.quote(str(zst_file))} | LC_ALL=C grep -c -F -e {shlex.quote(pat)}"
            t_cli, out = _best_wall(
                lambda c=cmd: subprocess.run(c, shell=True, capture_output=True, check=False).stdout, repeat)
            if int(out or 0) != n:
                raise SystemExit(f"grep {pat!r}: zstd | grep counted {int(out or 0)}, we {n}")
            row["zstd_grep_s"] = t_cli
        rows.append(row)
    return rows


def bench_archive(name: str, lines: list, raw: bytes, work: Path, group_rows: int, repeat: int,
                  patterns: list[str]) -> dict:
    path = work / name
    recs = _records(lines)
    t0, c0 = time.perf_counter(), time.process_time()
    with archive.open(path, "a", group_rows=group_rows) as ar:
        for i in range(0, len(recs), 100_000):
            ar.extend(recs[i:i + 100_000])
    t_write, c_write = time.perf_counter() - t0, time.process_time() - c0
    with archive.open(path) as ar:
        st = ar.stats()
        if len(ar) != len(recs) or ar[len(recs) // 2] != recs[len(recs) // 2]:
            raise SystemExit(f"{name}: archive does not read back")
    zst = zstandard.ZstdCompressor(level=19, threads=-1).compress(raw)
    zst_file = work / f"{name}.zst"
    zst_file.write_bytes(zst)
    sizes = {
        "raw": len(raw),
        "ours_segments": st["segment_bytes"],
        "ours_index": st["index_bytes"],
        "ours_total": st["total_bytes"],
        "gzip9": len(gzip.compress(raw, 9)),
        "zstd19": len(zst),
        "xz9": len(lzma.compress(raw, preset=9)),
    }
    return {"name": name, "lines": len(recs), "groups": st["groups"], "group_rows": group_rows,
            "write_s": t_write, "write_cpu_s": c_write, "sizes": sizes,
            "latency": _latency(path, 7), "grep": _grep_rows(path, zst, zst_file, patterns, repeat)}


def print_archive(r: dict) -> None:
    s = r["sizes"]
    print(f"\n== archive {r['name']}: {r['lines']} lines, {r['groups']} groups of {r['group_rows']}, "
          f"written in {r['write_s']:.1f} s ({r['lines'] / r['write_s']:.0f} lines/s)")
    print(f"{'raw':>12s} {'ours':>11s} {'(segments':>11s} {'+ index)':>10s} {'gzip -9':>10s} "
          f"{'zstd -19':>10s} {'xz -9':>10s} {'ours/zstd':>9s} {'ours/xz':>8s}")
    print(f"{s['raw']:12d} {s['ours_total']:11d} {s['ours_segments']:11d} {s['ours_index']:10d} "
          f"{s['gzip9']:10d} {s['zstd19']:10d} {s['xz9']:10d} {s['ours_total'] / s['zstd19']:9.3f} "
          f"{s['ours_total'] / s['xz9']:8.3f}")
    lat = r["latency"]
    print(f"ar[i] latency: cold (group decoded) p50 {lat['cold_p50_us'] / 1e3:.2f} ms, p99 "
          f"{lat['cold_p99_us'] / 1e3:.2f} ms; warm p50 {lat['warm_p50_us']:.1f} us, p99 "
          f"{lat['warm_p99_us']:.1f} us")
    head = (f"{'grep pattern':18s} {'lines':>8s} {'skipped':>9s} {'ours s':>8s} {'no-prune s':>10s} "
            f"{'zstd+re s':>9s} {'zstd|grep s':>11s}")
    print(head)
    for g in r["grep"]:
        cli = f"{g['zstd_grep_s']:11.3f}" if "zstd_grep_s" in g else f"{'-':>11s}"
        print(f"{g['pattern']!r:18s} {g['matches']:8d} {g['groups_skipped']:4d}/{g['groups']:<4d} "
              f"{g['ours_s']:8.3f} {g['ours_noprune_s']:10.3f} {g['zstd_re_s']:9.3f} {cli}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "loghub",
                    help="folder holding the loghub *_2k.log files")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--repeat", type=int, default=3, help="timing runs per file (best kept)")
    ap.add_argument("--gen-lines", type=int, default=1_000_000, help="lines of the generated log")
    ap.add_argument("--group-rows", type=int, default=4096, help="group size of the archives")
    ap.add_argument("--no-archives", action="store_true", help="only the per-file chunk table")
    ap.add_argument("--work", type=Path, help="folder for the archives (default: a temporary one)")
    args = ap.parse_args(argv)
    files = sorted(args.data.glob("*_2k.log"))
    if not files:
        raise SystemExit(f"no *_2k.log files in {args.data}")
    rows = [bench_file(f, args.repeat) for f in files]
    keys = ("lines", "raw", "ours19", "ours3", "gzip9", "zstd19", "xz9e", "encode_s", "decode_s")
    total = {k: sum(r[k] for r in rows) for k in keys}
    total.update(file="TOTAL", encoding="", templates=None)

    head = (f"{'file':19s} {'raw':>8s} {'ours@19':>8s} {'ours@3':>8s} {'gzip-9':>8s} "
            f"{'zstd-19':>8s} {'xz-9e':>8s} {'/zstd19':>7s} {'enc l/s':>8s} {'dec l/s':>8s} "
            f"{'dec ms':>7s} {'us/line':>7s}  encoding (templates)")
    print(head)
    print("-" * len(head))
    for r in rows + [total]:
        tp = f" ({r['templates']})" if r.get("templates") is not None else ""
        print(f"{r['file']:19s} {r['raw']:8d} {r['ours19']:8d} {r['ours3']:8d} {r['gzip9']:8d} "
              f"{r['zstd19']:8d} {r['xz9e']:8d} {r['ours19'] / r['zstd19']:7.3f} "
              f"{r['lines'] / r['encode_s']:8.0f} {r['lines'] / r['decode_s']:8.0f} "
              f"{r['decode_s'] * 1e3:7.2f} {r['decode_s'] / r['lines'] * 1e6:7.2f}  "
              f"{r['encoding']}{tp}")
    idx_us = sum(r["index_s"] for r in rows) / len(rows) * 1e6
    print(f"\nours@19 / zstd-19 = {total['ours19'] / total['zstd19']:.3f}, "
          f"ours@3 / zstd-19 = {total['ours3'] / total['zstd19']:.3f}, "
          f"ours@19 / xz-9e = {total['ours19'] / total['xz9e']:.3f} (project target: <= 0.7 x zstd-19)")
    print(f"speeds are CPU time, best of {args.repeat}; encode includes selection over every "
          f"registered str encoding; random access = decode the chunk (dec ms), then index a "
          f"line ({idx_us:.3f} us)")
    result: dict = {"files": rows, "total": total}
    if not args.no_archives:
        work = Path(tempfile.mkdtemp(prefix="bench_logs.", dir=args.work))
        try:
            datas = [f.read_bytes() for f in files]
            lines = [ln for d in datas for ln in d.split(b"\n")]
            result["archives"] = [bench_archive("loghub-all", lines, b"\n".join(datas), work,
                                                args.group_rows, args.repeat, GREP_PATTERNS)]
            print_archive(result["archives"][-1])
            if args.gen_lines > 0:  # --gen-lines 0: the real files only
                gen = generate_log(files, args.gen_lines)
                raw = "\n".join(gen).encode("utf-8")
                result["archives"].append(bench_archive("generated", gen, raw, work, args.group_rows,
                                                        args.repeat, GREP_PATTERNS))
                print_archive(result["archives"][-1])
            print("\nlatency and grep times are wall time (best of --repeat for grep); 'skipped': "
                  "groups ruled out by their template dictionaries; xz -9 is preset 9 (not 9e)")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
