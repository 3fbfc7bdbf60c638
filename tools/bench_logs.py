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

Usage::

    .venv/bin/python tools/bench_logs.py [--data DIR] [--json OUT] [--repeat N]
"""
from __future__ import annotations

import argparse
import gzip
import json
import lzma
import random
import sys
import time
from pathlib import Path

import numpy as np
import zstandard

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from archive.codec import registry
from archive.codec.chunk import chunk_payload, decode_chunk, encode_chunk
from archive.codec.templates import payload_templates


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "loghub",
                    help="folder holding the loghub *_2k.log files")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--repeat", type=int, default=3, help="timing runs per file (best kept)")
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
    if args.json:
        args.json.write_text(json.dumps({"files": rows, "total": total}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
