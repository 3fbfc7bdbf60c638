"""The README's main job: build an archive from generated DNS-log records, then look things up.

Runs on a fresh machine with no external data: ``make demo`` (or ``python tools/demo.py``).
Prints what it did and how long each step took, with the same records as JSON lines + zstd -19
for scale.
"""
from __future__ import annotations

import argparse
import random
import shutil
import statistics
import time
from pathlib import Path

import orjson
import zstandard

import archive

QTYPES = ["A"] * 60 + ["AAAA"] * 25 + ["PTR"] * 8 + ["TXT", "MX", "SRV", "CNAME", "NS"]
RCODES = ["NOERROR"] * 85 + ["NXDOMAIN"] * 12 + ["SERVFAIL"] * 3
DOMAINS = [f"{w}.{tld}" for w in ("example", "mail", "cdn", "api", "static", "login", "update",
                                  "telemetry", "news", "video") for tld in ("com", "net", "org", "io")]


def make_records(n: int, seed: int = 7) -> list[dict]:
    """Zeek-DNS-like records: monotone timestamps, a few hosts, skewed query names and types."""
    rng = random.Random(seed)
    hosts = [f"10.0.{rng.randrange(4)}.{rng.randrange(2, 250)}" for _ in range(40)]
    ts = 1_600_000_000.0
    out = []
    for i in range(n):
        ts += rng.expovariate(50.0)
        qtype = rng.choice(QTYPES)
        rcode = rng.choice(RCODES)
        query = (f"{rng.choice(['www', 'img', 'ws', 'a1', 'b2'])}.{rng.choice(DOMAINS)}"
                 if rng.random() < 0.9 else f"host{rng.randrange(10**6)}.internal")
        rec = {
            "ts": round(ts, 6),
            "uid": "C" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
                                 for _ in range(17)),
            "id.orig_h": rng.choice(hosts),
            "id.orig_p": rng.randrange(1024, 65535),
            "id.resp_h": rng.choice(["10.0.0.1", "10.0.0.2", "8.8.8.8"]),
            "id.resp_p": 53,
            "proto": "udp",
            "query": query,
            "qtype_name": qtype,
            "rcode_name": rcode,
            "AA": False,
            "RD": True,
            "rejected": False,
        }
        if rcode == "NOERROR":
            k = rng.randrange(1, 4)
            rec["answers"] = [f"93.184.{rng.randrange(256)}.{rng.randrange(256)}" for _ in range(k)]
            rec["TTLs"] = [float(rng.choice([60, 300, 3600, 86400])) for _ in range(k)]
        out.append(rec)
    return out


def _timed(label: str, fn):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    result = fn()
    print(f"  {label:<44} {time.perf_counter() - t:8.3f} s")
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--out", default="demo-archive")
    args = ap.parse_args(argv)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    print(f"archive demo: {args.records:,} generated DNS-log records -> {out}/")
    records = _timed("generate records", lambda: make_records(args.records))
    jsonl = b"\n".join(orjson.dumps(r) for r in records) + b"\n"
    zstd19 = _timed("JSON lines + zstd -19 (for scale)", lambda: zstandard.ZstdCompressor(level=19, threads=-1).compress(jsonl))

    def ingest() -> None:
        with archive.open(out, "a") as ar:
            ar.extend(records, keys=[r["uid"] for r in records])
    _timed("ingest into the archive (extend + commit)", ingest)

    with archive.open(out) as ar:
        st = ar.stats()
        print(f"\n  JSON lines {len(jsonl):>12,} B\n  zstd -19   {len(zstd19):>12,} B"
              f"\n  archive    {st['total_bytes']:>12,} B  ({st['segment_bytes']:,} B chunks + "
              f"{st['index_bytes']:,} B index incl. {args.records:,} keys)\n")
        rng = random.Random(1)
        picks = [rng.randrange(len(ar)) for _ in range(2000)]
        lat = []
        for i in picks:
            t = time.perf_counter()
            rec = ar[i]
            lat.append(time.perf_counter() - t)
            assert rec == records[i]
        print(f"  ar[i], 2,000 random positions: p50 {statistics.median(lat) * 1e6:8.1f} us")
        lat = []
        for i in picks[:1000]:
            t = time.perf_counter()
            rec = ar.get(records[i]["uid"])
            lat.append(time.perf_counter() - t)
            assert rec == records[i]
        print(f"  ar.get(uid), 1,000 random keys: p50 {statistics.median(lat) * 1e6:8.1f} us")
        sample = [rng.randrange(len(ar)) for _ in range(10_000)]
        got = _timed("take 10,000 random positions", lambda: ar.take(sample))
        assert got == [records[i] for i in sample]
        q = "qtype_name == 'AAAA' and rcode_name == 'NXDOMAIN'"
        hits = _timed(f"scan where {q!r}", lambda: list(ar.scan(columns=[("query",), ("id.orig_h",)], where=q)))
        want = sum(1 for r in records if r["qtype_name"] == "AAAA" and r["rcode_name"] == "NXDOMAIN")
        assert len(hits) == want
        print(f"    -> {len(hits):,} matches, e.g. {hits[0] if hits else None}")
        ports = _timed("column('id.orig_p') as numpy, mean", lambda: ar.column(("id.orig_p",)))
        print(f"    -> {ports.dtype}, mean {ports.mean():.1f}")
        problems = _timed("verify every chunk", ar.verify)
        print(f"    -> {'ok' if not problems else problems}")
    print(f"\nDone. Explore it: .venv/bin/archive stats {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
