"""cProfile our engine's ingest, cold get, warm get, take, column and scans on a benchmark data set.

    .venv/bin/python tools/bench/prof.py [--dataset gen|zeek|...] [--records N] [--out DIR]

Uses the same definitions as run.py (cold: cache_bytes=1 and the group cache dropped before
each get; warm: a 10-record hot set, default cache; take: 10k random positions, fresh handle).
Prints, per operation, the top functions by own time (tottime) and by cumulative time, each
as a percentage of the profiled wall time; writes OUT/profile_<op>.txt and .pstats.
column: ``ar.column`` of the set's column; scan: the bench's filtered scan (its ``where``,
whole records); scan_columns: the same projected to the column and the filtered path.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import datasets
import peers

import archive


def top(prof: cProfile.Profile, wall: float, n: int) -> str:
    st = pstats.Stats(prof)
    rows = []
    for (file, line, fn), (_cc, nc, tt, ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        short = f"{Path(file).parent.name}/{Path(file).name}:{line}({fn})" if line else fn
        rows.append((tt, ct, nc, short))
    out = [f"  by own time (tottime), wall {wall * 1e3:.1f} ms:"]
    for tt, ct, nc, name in sorted(rows, reverse=True)[:n]:
        out.append(f"    {100 * tt / wall:5.1f}%  own {tt * 1e3:8.1f} ms  cum {ct * 1e3:8.1f} ms  "
                   f"calls {nc:>8}  {name}")
    out.append("  by cumulative time:")
    for tt, ct, nc, name in sorted(rows, key=lambda r: -r[1])[:n + 6]:
        out.append(f"    {100 * ct / wall:5.1f}%  cum {ct * 1e3:8.1f} ms  calls {nc:>8}  {name}")
    return "\n".join(out)


def profiled(name: str, fn, out: Path, n: int) -> None:
    prof = cProfile.Profile()
    t = time.perf_counter()
    prof.enable()
    fn()
    prof.disable()
    wall = time.perf_counter() - t
    text = f"== {name}\n{top(prof, wall, n)}"
    print(text, flush=True)
    (out / f"profile_{name}.txt").write_text(text + "\n")
    prof.dump_stats(str(out / f"profile_{name}.pstats"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="gen")
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--gets", type=int, default=100)
    ap.add_argument("--top", type=int, default=8)
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "archive-bench")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    ds = datasets.load([a.dataset], a.records)[0]
    path = a.out / "work" / f"prof-{ds.name}"
    shutil.rmtree(path, ignore_errors=True)
    print(f"{ds.name}: {ds.n:,} records, {ds.nbytes / 1e6:.1f} MB", flush=True)

    def ingest() -> None:
        with archive.open(path, "a") as ar:
            for s in range(0, ds.n, 65536):
                ar.extend([orjson.loads(x) for x in ds.lines[s:s + 65536]], ds.keys[s:s + 65536])
            ar.commit()

    profiled("ingest", ingest, a.out, a.top)
    rng = np.random.default_rng(1234)
    pos = rng.integers(0, ds.n, a.gets).tolist()
    ar = archive.open(path, cache_bytes=1)

    def cold() -> None:
        for i in pos:
            ar._drop_cache()
            ar[i]

    profiled("get_cold", cold, a.out, a.top)
    ar.close()
    ar = archive.open(path)
    hot = rng.integers(0, ds.n, 10).tolist()
    for i in hot:
        ar[i]

    def warm() -> None:
        for _ in range(100):
            for i in hot:
                ar[i]

    profiled("get_warm_1000", warm, a.out, a.top)
    ar.close()
    ar = archive.open(path, cache_bytes=1)
    tp = rng.choice(ds.n, min(10_000, ds.n), replace=False)
    profiled("take_10k", lambda: ar.take(tp), a.out, a.top)
    ar.close()
    ar = archive.open(path, cache_bytes=1)
    profiled("column", lambda: ar.column((ds.column,)), a.out, a.top)
    ar.close()
    where = peers.where_ours(ds.flt)
    ar = archive.open(path, cache_bytes=1)
    profiled("scan", lambda: list(ar.scan(where=where)), a.out, a.top)
    ar.close()
    ar = archive.open(path, cache_bytes=1)
    cols = [(ds.column,), ds.flt[0]]
    profiled("scan_columns", lambda: list(ar.scan(columns=cols, where=where)), a.out, a.top)
    ar.close()
    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
