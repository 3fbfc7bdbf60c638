"""Benchmark offline batch queries over many archives: local scans vs Dask on 2 worker processes.

Generates ``--archives`` archives (one per "day") of ``--records`` zeek-DNS-like records each
in ``--dir`` (reused when already there with the same sizes; generation time is excluded),
then times, best of ``--repeat``:

* ``sum(rtt)``: a one-column aggregate (``rtt`` is absent from ~30% of records);
* ``count where``: ``qtype_name == "AAAA" and rcode_name == "NXDOMAIN"`` (a filtered count,
  ``columns=[]``: only the where's columns are decoded);

each by
* ``local scan``: ``open_many(...).scan(columns, where)`` in this process, records as dicts;
* ``local arrow``: ``open_many(...).to_arrow(columns, where)`` in this process, pyarrow compute;
* ``dask N workers``: ``archive.dask.read_archive`` on a ``LocalCluster(n_workers=N,
  processes=True, threads_per_worker=1)`` (started before timing; its start time is printed),
  the where pushed down to the workers; and, for the count, ``dask (pandas filter)``: the
  filter evaluated by pandas on the workers instead (no pushdown, no statistics pruning).

Every result is checked against the local scan's.  Files are in the OS page cache (just
written or read by the previous repetition): these are warm-cache figures.

Usage: ``.venv/bin/python tools/bench_dask.py [--archives 10] [--records 100000] [--workers 2]
[--dir DIR] [--repeat 3] [--json OUT]``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import archive

WHERE = 'qtype_name == "AAAA" and rcode_name == "NXDOMAIN"'
QTYPES = [(1, "A", 0.55), (28, "AAAA", 0.25), (12, "PTR", 0.1), (16, "TXT", 0.04), (33, "SRV", 0.03),
          (15, "MX", 0.03)]
RCODES = [(0, "NOERROR", 0.8), (3, "NXDOMAIN", 0.15), (2, "SERVFAIL", 0.04), (5, "REFUSED", 0.01)]
TLDS = ["org", "com", "net", "edu", "local", "arpa"]


def _pick(rng: random.Random, table: list) -> tuple:
    x, acc = rng.random(), 0.0
    for row in table:
        acc += row[-1]
        if x < acc:
            return row
    return table[-1]


def dns_records(day: int, n: int) -> list[dict]:
    """``n`` records shaped like Zeek's dns.log (JSON streaming), deterministic per day."""
    rng = random.Random(day)
    names = [f"{rng.choice(['www', 'mail', 'api', 'cdn', 'ise', 'wpad'])}{i}."
             f"{rng.choice(['wrccdc', 'example', 'ubuntu', 'google'])}.{rng.choice(TLDS)}" for i in range(3000)]
    hosts = [f"10.47.{rng.randrange(256)}.{rng.randrange(256)}" for _ in range(400)]
    t0 = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=day)
    out = []
    for i in range(n):
        ts = t0 + timedelta(seconds=i * 86400 / n)
        qtype, qname, _ = _pick(rng, QTYPES)
        rcode, rname, _ = _pick(rng, RCODES)
        q = names[min(int(rng.paretovariate(1.2)) - 1, len(names) - 1)]
        r = {"_path": "dns", "_write_ts": (ts + timedelta(microseconds=800)).isoformat().replace("+00:00", "Z"),
             "ts": ts.isoformat().replace("+00:00", "Z"),
             "uid": "C" + "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", k=17)),
             "id.orig_h": rng.choice(hosts), "id.orig_p": rng.randrange(1024, 65536),
             "id.resp_h": "10.0.0.100", "id.resp_p": 53, "proto": "udp" if rng.random() < 0.97 else "tcp",
             "trans_id": rng.randrange(65536)}
        if rng.random() < 0.7:
            r["rtt"] = rng.expovariate(1 / 0.004)
        r.update({"query": q, "qclass": 1, "qclass_name": "C_INTERNET", "qtype": qtype, "qtype_name": qname,
                  "rcode": rcode, "rcode_name": rname, "AA": rng.random() < 0.1, "TC": False, "RD": True,
                  "RA": rcode == 0, "Z": 0})
        if rcode == 0:
            k = rng.randrange(1, 4)
            r["answers"] = [f"134.71.{rng.randrange(256)}.{rng.randrange(256)}" for _ in range(k)]
            r["TTLs"] = [float(rng.choice([60, 300, 3600, 41830])) for _ in range(k)]
        r["rejected"] = False
        out.append(r)
    return out


def _make(args: tuple[str, int, int]) -> str:
    path, day, n = args
    with archive.open(path, "a") as ar:
        ar.extend(dns_records(day, n))
    return path


def generate(root: Path, archives: int, records: int) -> list[str]:
    paths = [str(root / f"dns-{day:03d}") for day in range(archives)]
    todo = []
    for day, p in enumerate(paths):
        if Path(p, "index").is_dir():
            with archive.open(p) as ar:
                if len(ar) == records:
                    continue
            import shutil
            shutil.rmtree(p)
        todo.append((p, day, records))
    if todo:
        t = time.perf_counter()
        with ProcessPoolExecutor(min(len(todo), os.cpu_count() or 1)) as pool:
            list(pool.map(_make, todo))
        print(f"generated {len(todo)} archives x {records} records in {time.perf_counter() - t:.1f} s "
              "(excluded)", file=sys.stderr)
    return paths


def best(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--archives", type=int, default=10)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dir", type=Path, default=None, help="where the archives live (default: a temp dir)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    import pyarrow.compute as pc
    from distributed import Client, LocalCluster

    import archive.dask as ad

    tmp = None
    if args.dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-dask-")
        args.dir = Path(tmp.name)
    args.dir.mkdir(parents=True, exist_ok=True)
    paths = generate(args.dir, args.archives, args.records)
    total = args.archives * args.records
    rows: list[dict] = []

    def record(query: str, method: str, seconds: float, value: object) -> None:
        rows.append({"query": query, "method": method, "seconds": round(seconds, 4),
                     "records_per_s": round(total / seconds), "result": value})

    # --- local ---------------------------------------------------------------------------------
    def local_sum() -> float:
        with archive.open_many(paths) as m:
            return math.fsum(r["rtt"] for r in m.scan(["rtt"]) if "rtt" in r)

    def local_count() -> int:
        with archive.open_many(paths) as m:
            return sum(1 for _ in m.scan([], where=WHERE))

    def arrow_sum() -> float:
        with archive.open_many(paths) as m:
            return math.fsum(pc.sum(b.column(0)).as_py() or 0.0 for b in m.to_arrow(["rtt"]))

    def arrow_count() -> int:
        with archive.open_many(paths) as m:
            return sum(b.num_rows for b in m.to_arrow([], where=WHERE))

    s, want_sum = best(local_sum, args.repeat)
    record("sum(rtt)", "local scan", s, want_sum)
    s, v = best(arrow_sum, args.repeat)
    assert math.isclose(v, want_sum), (v, want_sum)
    record("sum(rtt)", "local arrow", s, v)
    s, want_count = best(local_count, args.repeat)
    record("count where", "local scan", s, want_count)
    s, v = best(arrow_count, args.repeat)
    assert v == want_count
    record("count where", "local arrow", s, v)

    # --- dask ----------------------------------------------------------------------------------
    t = time.perf_counter()
    cluster = LocalCluster(n_workers=args.workers, processes=True, threads_per_worker=1,
                           dashboard_address=None)
    client = Client(cluster)
    client.run(lambda: __import__("archive.dask"))  # warm the workers' imports
    startup = time.perf_counter() - t
    label = f"dask {args.workers} workers"
    try:
        def dask_sum() -> float:
            return float(ad.read_archive(paths, columns=["rtt"]).rtt.sum().compute())

        def dask_count() -> int:
            return len(ad.read_archive(paths, columns=[], where=WHERE))

        def dask_count_pandas() -> int:
            df = ad.read_archive(paths, columns=["qtype_name", "rcode_name"])
            return int(((df.qtype_name == "AAAA") & (df.rcode_name == "NXDOMAIN")).sum().compute())

        s, v = best(dask_sum, args.repeat)
        assert math.isclose(v, want_sum), (v, want_sum)
        record("sum(rtt)", label, s, v)
        s, v = best(dask_count, args.repeat)
        assert v == want_count
        record("count where", label, s, v)
        s, v = best(dask_count_pandas, args.repeat)
        assert v == want_count
        record("count where", f"{label} (pandas filter)", s, v)
        nparts = ad.read_archive(paths, columns=["rtt"]).npartitions
    finally:
        client.close()
        cluster.close()

    load = os.getloadavg()[0]
    print(f"{args.archives} archives x {args.records} records = {total} records; "
          f"{nparts} partitions; cluster start {startup:.1f} s (excluded); best of {args.repeat}; "
          f"{os.cpu_count()} CPUs, load average {load:.1f}")
    print(f"{'query':<12} {'method':<28} {'seconds':>8} {'Mrec/s':>7} {'vs local scan':>13}  result")
    base = {r["query"]: r["seconds"] for r in rows if r["method"] == "local scan"}
    for r in rows:
        print(f"{r['query']:<12} {r['method']:<28} {r['seconds']:>8.3f} {r['records_per_s'] / 1e6:>7.2f} "
              f"{base[r['query']] / r['seconds']:>12.1f}x  {r['result']}")
    if args.json:
        args.json.write_text(json.dumps({
            "archives": args.archives, "records_per_archive": args.records, "workers": args.workers,
            "partitions": nparts, "cluster_start_s": round(startup, 2), "repeat": args.repeat,
            "cpus": os.cpu_count(), "load_average": round(load, 2), "where": WHERE, "results": rows}, indent=2))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
