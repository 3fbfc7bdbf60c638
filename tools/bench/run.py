"""Benchmark our archive engine against peer stores on the same data, in one run.

    .venv/bin/python tools/bench/run.py [--records N] [--quick] [--out DIR]

Per data set and peer: bytes on disk, ingest MB/s (input = JSON-lines bytes, parsed and made
durable inside the timing), get p50/p99 by position and by key, cold and warm, ``take`` of
10k random positions (records/s, fresh handle), a one-column scan and a filtered scan
(matching full records as Python objects; counts are cross-checked between peers).

cold = random positions (keys of random positions) over the whole data set, handle kept open,
no decoded-data cache (ours: ``cache_bytes=1`` and the group cache dropped before each
sample); warm = ``HOT`` random positions (their keys) accessed round-robin after a warm-up
pass, default cache.  OS page cache is warm in both: files were just written.  Gets are
sampled up to ``--samples`` times or until ``--budget`` seconds are spent (at least 5
samples), so slow peers (whole-file jsonl, 1-row-group Parquet) get fewer: n is reported.
Writes OUT/bench.json, OUT/bench.png and prints the tables plus the targets check.
"""
from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import datasets
import peers as peermod

HOT = 10
SLOW_INGEST = {"jsonl-zstd19"}  # skipped on inputs larger than --slow-mb
TAKE = 10_000
METRICS = [  # key, header, unit, format
    ("size_mb", "size", "MB", "{:.2f}"), ("ingest_mbs", "ingest", "MB/s", "{:.1f}"),
    ("get_pos_cold_p50", "pos cold p50", "ms", "{:.3g}"), ("get_pos_cold_p99", "p99", "ms", "{:.3g}"),
    ("get_key_cold_p50", "key cold p50", "ms", "{:.3g}"), ("get_key_cold_p99", "p99", "ms", "{:.3g}"),
    ("get_pos_warm_p50", "pos warm p50", "ms", "{:.3g}"), ("get_pos_warm_p99", "p99", "ms", "{:.3g}"),
    ("get_key_warm_p50", "key warm p50", "ms", "{:.3g}"), ("get_key_warm_p99", "p99", "ms", "{:.3g}"),
    ("take_rps", "take", "rec/s", "{:,.0f}"), ("column_s", "column", "s", "{:.3g}"),
    ("filter_s", "filter", "s", "{:.3g}"),
]


def timed(fn, *a):
    t = time.perf_counter()
    out = fn(*a)
    return time.perf_counter() - t, out


def sample(fn, args, budget: float, nmax: int, before=None) -> dict:
    ts: list[float] = []
    t0 = time.perf_counter()
    for a in args[:nmax]:
        if before is not None:
            before()
        t = time.perf_counter()
        fn(a)
        ts.append(time.perf_counter() - t)
        if len(ts) >= 5 and time.perf_counter() - t0 > budget:
            break
    ms = np.array(ts) * 1e3
    return {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)), "n": len(ts)}


def same_record(got, want) -> bool:
    """Equal, allowing Arrow peers' extra all-None fields and their ``_key`` column."""
    if got == want:
        return True
    if isinstance(got, dict) and isinstance(want, dict):
        extra = set(got) - set(want)
        return all(k == "_key" or got[k] is None for k in extra) and all(
            same_record(got.get(k), v) for k, v in want.items())
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        return all(same_record(a, b) for a, b in zip(got, want))
    return False


def bench_peer(p: peermod.Peer, ds: datasets.DataSet, a: argparse.Namespace) -> dict:
    r: dict = {"peer": p.name, "how": p.HOW}
    p.remove()
    gc.collect()
    dt, _ = timed(p.ingest, ds.lines, ds.keys)
    r["ingest_s"], r["ingest_mbs"] = dt, ds.nbytes / 1e6 / dt
    r["size_mb"] = p.disk_bytes() / 1e6
    r.update(getattr(p, "extra", dict)())
    rng = np.random.default_rng(1234)
    cold_pos = rng.integers(0, ds.n, a.samples).tolist()
    cold_keys = [ds.keys[i] for i in rng.integers(0, ds.n, a.samples)]
    hot = rng.integers(0, ds.n, HOT).tolist()
    take_pos = (rng.choice(ds.n, TAKE, replace=False) if ds.n >= TAKE
                else rng.integers(0, ds.n, TAKE))
    p.open(cold=True)
    try:
        check = [0, ds.n - 1, ds.n // 2]
        r["correct"] = all(same_record(p.get_pos(i), ds.record(i)) for i in check) and all(
            same_record(p.get_key(ds.keys[i]), ds.record(i)) for i in check)
        for what, fn, args in (("pos", p.get_pos, cold_pos), ("key", p.get_key, cold_keys)):
            s = sample(fn, args, a.budget, a.samples, p.before_cold_sample)
            r[f"get_{what}_cold_p50"], r[f"get_{what}_cold_p99"], r[f"get_{what}_cold_n"] = s.values()
    finally:
        p.close()
    p.open(cold=False)
    try:
        for what, fn, hs in (("pos", p.get_pos, hot), ("key", p.get_key, [ds.keys[i] for i in hot])):
            for h in hs:
                fn(h)
            s = sample(fn, (hs * (a.samples // HOT + 1))[:a.samples], a.budget, a.samples)
            r[f"get_{what}_warm_p50"], r[f"get_{what}_warm_p99"], r[f"get_{what}_warm_n"] = s.values()
    finally:
        p.close()
    for what, op in (("take", lambda: p.take(take_pos)), ("column", lambda: p.column(ds.column)),
                     ("filter", lambda: p.filter(ds.flt))):
        p.open(cold=True)
        try:
            gc.collect()
            dt, out = timed(op)
        finally:
            p.close()
        r[f"{what}_s"] = dt
        if what == "take":
            r["take_rps"] = TAKE / dt
            r["take_ok"] = same_record(out[17], ds.record(int(take_pos[17])))
        elif what == "column":
            r["column_len"] = len(out)
        else:
            r["filter_count"] = len(out)
        del out
    return r


def run_peer(ds: datasets.DataSet, name: str, a: argparse.Namespace) -> dict:
    """One peer on one data set (in its own process: memory is returned, an OOM costs one row)."""
    (p,) = peermod.make(a.out / "work" / ds.name, [name])
    t = time.perf_counter()
    try:
        r = bench_peer(p, ds, a)
    except Exception as e:  # noqa: BLE001 - a peer that cannot hold a data set is a result too
        r = {"peer": p.name, "error": f"{type(e).__name__}: {str(e)[:200]}"}
        if a.verbose:
            traceback.print_exc()
    finally:
        if not a.keep:
            p.remove()
    r["wall_s"] = time.perf_counter() - t
    r["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return r


def run_dataset(name: str, a: argparse.Namespace) -> dict:
    """Every peer on one data set, each in a child process; the data set's result entry."""
    info = None
    rows = []
    for peer in a.peers.split(","):
        part = a.out / f"part-{name}-{peer}.json"
        part.unlink(missing_ok=True)
        cmd = [sys.executable, __file__, "--records", str(a.records), "--out", str(a.out),
               "--datasets", name, "--peers", peer, "--samples", str(a.samples),
               "--budget", str(a.budget), "--slow-mb", str(a.slow_mb), "--part", str(part)]
        cmd += ["--keep"] * a.keep + ["--verbose"] * a.verbose
        rc = subprocess.run(cmd, check=False).returncode
        if rc == 0 and part.exists():
            got = json.loads(part.read_text())
            info, r = got["info"], got["row"]
            part.unlink()
        else:
            r = {"peer": peer, "error": f"benchmark process died (exit {rc}; -9 = killed, e.g. OOM)"}
            print(f"  {name:9s} {peer:15s} {r['error']}", flush=True)
        rows.append(r)
    counts = {r["filter_count"] for r in rows if "filter_count" in r}
    for r in rows:
        r["filter_count_agrees"] = len(counts) == 1
    entry = dict(info or {"name": name, "records": 0})
    entry.update(peers=rows, targets=targets(rows))
    return entry


def fmt_table(name: str, rows: list[dict]) -> str:
    head = ["peer"] + [f"{h} ({u})" for _, h, u, _ in METRICS]
    body = []
    for r in rows:
        if "error" in r or "skipped" in r:
            body.append([r["peer"]] + ["n/a" if "error" in r else "skip"] * len(METRICS))
            continue
        body.append([r["peer"] + ("" if r.get("correct", True) else " (!)")] +
                    [f.format(r[k]) if k in r else "-" for k, _, _, f in METRICS])
    w = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    lines = [f"== {name}", "  ".join(h.rjust(w[i]) for i, h in enumerate(head))]
    lines += ["  ".join(c.rjust(w[i]) for i, c in enumerate(row)) for row in body]
    for r in rows:
        if "error" in r or "skipped" in r:
            lines.append(f"   {r['peer']}: {r.get('error') or r['skipped']}")
    return "\n".join(lines)


def targets(rows: list[dict]) -> list[dict]:
    """The goals we report against, as ratios between peers of the same run."""
    by = {r["peer"]: r for r in rows if "error" not in r and "skipped" not in r}
    o = by.get("archive")
    if o is None:
        return []
    out = []

    def add(what, ok, ratio, detail):
        out.append({"target": what, "met": bool(ok), "ratio": ratio, "detail": detail})

    for peer in ("lance", "parquet-rg1000"):
        if peer in by:
            q = by[peer]["get_pos_cold_p50"] / o["get_pos_cold_p50"]
            add(f"cold get p50 >= 10x faster than {peer}", q >= 10, q, f"{peer}/archive = {q:.2f}x")
    if "lmdb-zstd" in by:
        q = o["get_pos_cold_p50"] / by["lmdb-zstd"]["get_pos_cold_p50"]
        add("cold get p50 <= 3x lmdb-zstd", q <= 3, q, f"archive/lmdb = {q:.1f}x")
        s = by["lmdb-zstd"]["size_mb"] / o["size_mb"]
        add(">= 5x smaller than lmdb-zstd", s >= 5, s, f"lmdb/archive size = {s:.2f}x")
    if "lance" in by:
        q = by["lance"]["column_s"] / o["column_s"]
        add("one-column scan at least as fast as lance", q >= 1, q, f"lance/archive time = {q:.2f}x")
    add("take >= 200k records/s", o["take_rps"] >= 2e5, o["take_rps"] / 2e5, f"{o['take_rps']:,.0f} rec/s")
    if "parquet" in by:
        s = by["parquet"]["size_mb"] / o["size_mb"]
        add("size <= parquet's", s >= 1, s, f"parquet/archive size = {s:.2f}x")
    return out


def tree_state() -> str:
    """HEAD plus a digest of the uncommitted engine changes: the code the numbers belong to."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=False, timeout=30).stdout.strip()
        diff = subprocess.run(["git", "diff", "HEAD", "--", "archive"], cwd=root, capture_output=True,
                              check=False, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}+{hashlib.sha1(diff).hexdigest()[:10]}" if diff else head


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=None, help="generated records (default 1M; quick 200k)")
    ap.add_argument("--quick", action="store_true", help="200k generated + zeek only (< 5 min)")
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "archive-bench")
    ap.add_argument("--datasets", default=None, help="comma list (gen,zeek,twitter,citm,gsoc,canada,github,loghub)")
    ap.add_argument("--peers", default=",".join(peermod.ALL))
    ap.add_argument("--samples", type=int, default=None, help="max samples per get metric")
    ap.add_argument("--budget", type=float, default=None, help="seconds per get metric")
    ap.add_argument("--slow-mb", type=float, default=None,
                    help="skip jsonl-zstd19 on inputs above this many MB (default 150; quick 50)")
    ap.add_argument("--keep", action="store_true", help="keep the written stores under OUT/work")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--part", type=Path, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    a.records = a.records or (200_000 if a.quick else 1_000_000)
    a.samples = a.samples or (200 if a.quick else 300)
    a.budget = a.budget or (1.5 if a.quick else 6.0)
    a.slow_mb = a.slow_mb if a.slow_mb is not None else (50.0 if a.quick else 150.0)
    names = (a.datasets or ("gen,zeek" if a.quick else "gen,zeek,twitter,citm,gsoc,canada,github,loghub")).split(",")
    a.out.mkdir(parents=True, exist_ok=True)
    if a.part is not None:  # child: one data set, one peer, its row to a.part
        ds = datasets.load(names, a.records, cache=a.out / "cache")[0]
        info = {"name": ds.name, "records": ds.n, "json_mb": ds.nbytes / 1e6, "note": ds.note,
                "column": ds.column, "filter": list(ds.flt)}
        if a.peers in SLOW_INGEST and ds.nbytes / 1e6 > a.slow_mb:
            r = {"peer": a.peers, "skipped": f"{ds.nbytes / 1e6:.0f} MB input > --slow-mb "
                 f"{a.slow_mb:g}: zstd -19 ingests at ~1 MB/s on 2 cores"}
        else:
            r = run_peer(ds, a.peers, a)
        print(f"  {ds.name:9s} {a.peers:15s} {r.get('wall_s', 0):6.1f}s "
              f"rss {r.get('peak_rss_mb', 0):6.0f} MB {r.get('error') or r.get('skipped') or ''}", flush=True)
        a.part.write_text(json.dumps({"info": info, "row": r}, default=str))
        return
    t0 = time.perf_counter()
    result = {"config": {"records": a.records, "quick": a.quick, "samples": a.samples,
                         "budget_s": a.budget, "slow_mb": a.slow_mb, "hot_set": HOT, "take": TAKE,
                         "python": sys.version.split()[0], "machine": platform.platform(),
                         "cpus": os.cpu_count(), "load_before": os.getloadavg(),
                         "tree_before": tree_state()},
              "datasets": {}}
    for name in names:
        entry = run_dataset(name, a)
        result["datasets"][entry.pop("name")] = entry
        print(fmt_table(name, entry["peers"]), flush=True)
        (a.out / "bench.json").write_text(json.dumps(result, indent=1, default=str))
    result["config"]["load_after"] = os.getloadavg()
    result["config"]["tree_after"] = tree_state()
    result["wall_s"] = time.perf_counter() - t0
    if result["config"]["tree_before"] != result["config"]["tree_after"]:
        print("WARNING: the engine code changed during the run (tree_before != tree_after)")
    print(f"\nunits: size MB (1e6 bytes), ingest MB/s of JSON lines, gets ms, take records/s, "
          f"scans s. total {result['wall_s']:.0f}s")
    for name, d in result["datasets"].items():
        if d["targets"]:
            print(f"targets on {name}:")
            for t in d["targets"]:
                print(f"  [{'MET' if t['met'] else 'MISS'}] {t['target']}: {t['detail']}")
    (a.out / "bench.json").write_text(json.dumps(result, indent=1, default=str))
    try:
        import chart
        chart.draw(result, a.out / "bench.png")
    except Exception as e:  # noqa: BLE001 - the numbers are already saved
        print(f"chart failed: {e}")
    print(f"wrote {a.out / 'bench.json'} and {a.out / 'bench.png'}")


if __name__ == "__main__":
    main()
