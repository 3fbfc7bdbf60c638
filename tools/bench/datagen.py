"""Deterministic generator: scales the real Zeek DNS log to any number of records.

The real file (``shared/data/zeek/dns.json.gz``, 53,615 records) is split into *transactions*
(runs of consecutive records with the same ``uid``).  Each generated transaction draws, from
the real file's empirical distributions and independently of each other:

* the run template (number of records and, per record, the query/answer block:
  query, qclass/qclass_name, qtype/qtype_name, rcode/rcode_name, AA/TC/RD/RA/Z, answers,
  TTLs, rejected, and which of these fields are present) - jointly, so qtype matches qtype_name
  and answers match the query;
* the network block (id.orig_h, id.resp_h, id.resp_p, proto) of a random real record;
* id.orig_p and trans_id, each from its own empirical column distribution;
* rtt per record (present exactly where the template record had one) from the rtt column.

``ts`` is monotone: gaps are resampled from the gaps of the real file's sorted timestamps;
``_write_ts`` = ts + a resampled real (write_ts - ts) lag.  ``uid`` is fresh: "C" + 17
base-62 characters, like Zeek's.  Field order follows the real records.  Same seed, same
output: ``generate(n, seed)`` is a pure function of its arguments and the real file.

Usage: ``python tools/bench/datagen.py N OUT.jsonl[.gz] [--seed S]``
"""
from __future__ import annotations

import argparse
import datetime as dt
import gzip
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson

SHARED = Path(os.environ.get("ARCHIVE_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
ZEEK = SHARED / "zeek" / "dns.json.gz"
QUERY_FIELDS = ("query", "qclass", "qclass_name", "qtype", "qtype_name", "rcode", "rcode_name",
                "AA", "TC", "RD", "RA", "Z", "answers", "TTLs", "rejected")
NET_FIELDS = ("id.orig_h", "id.resp_h", "id.resp_p", "proto")
B62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", np.uint8)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _ts(s: str) -> int:
    """Zeek ISO timestamp -> integer microseconds since the epoch (exact)."""
    d = dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    delta = d - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _fmt(us: np.ndarray) -> list[str]:
    """Integer microseconds -> Zeek ISO strings (vectorised through numpy datetime64)."""
    s = np.datetime_as_string(us.astype("datetime64[us]"), unit="us")
    return [x + "Z" for x in s.tolist()]


def load_real(path: Path = ZEEK) -> list[dict]:
    with gzip.open(path, "rb") as f:
        return [orjson.loads(line) for line in f if line.strip()]


class Model:
    """Empirical distributions of the real file, ready to sample."""

    def __init__(self, real: list[dict]):
        self.order = list(dict.fromkeys(k for r in real for k in r))
        self.query_blocks = [{k: r[k] for k in QUERY_FIELDS if k in r} for r in real]
        self.has_rtt = np.array(["rtt" in r for r in real])
        self.net = [tuple(r[k] for k in NET_FIELDS) for r in real]
        self.orig_p = np.array([r["id.orig_p"] for r in real], dtype=np.int64)
        self.trans_id = np.array([r["trans_id"] for r in real], dtype=np.int64)
        self.rtt = [r["rtt"] for r in real if "rtt" in r]
        runs, start = [], 0  # (first real index, length) of each same-uid run
        for i in range(1, len(real) + 1):
            if i == len(real) or real[i]["uid"] != real[start]["uid"]:
                runs.append((start, i - start))
                start = i
        self.runs = np.array(runs, dtype=np.int64)
        ts = np.sort(np.array([_ts(r["ts"]) for r in real], dtype=np.int64))
        self.t0 = int(ts[0])
        self.gaps = np.diff(ts)
        self.lags = np.array([max(0, _ts(r["_write_ts"]) - _ts(r["ts"])) for r in real], np.int64)


def generate(n: int, seed: int = 20180324, real: list[dict] | None = None) -> list[dict]:
    """``n`` synthetic Zeek DNS records (deterministic for a given ``seed``)."""
    return list(iter_generate(n, seed, real))


def iter_generate(n: int, seed: int = 20180324, real: list[dict] | None = None) -> Iterator[dict]:
    m = Model(real if real is not None else load_real())
    rng = np.random.default_rng(seed)
    # Per-record arrays drawn up front (vectorised, deterministic).
    ts = m.t0 + np.cumsum(np.r_[0, rng.choice(m.gaps, n - 1)]) if n else np.zeros(0, np.int64)
    wts = ts + rng.choice(m.lags, n)
    ts_s, wts_s = _fmt(ts), _fmt(wts)
    rtt_pick = rng.integers(0, len(m.rtt), n)
    # Transactions: enough of them to cover n records (average run length ~2.7).
    ntx = n // 2 + 16
    run_pick = rng.integers(0, len(m.runs), ntx)
    net_pick = rng.integers(0, len(m.net), ntx)
    port_pick = rng.choice(m.orig_p, ntx)
    tid_pick = rng.choice(m.trans_id, ntx)
    uids = B62[rng.integers(0, 62, (ntx, 17))]
    has_rtt, rtt, blocks = m.has_rtt.tolist(), m.rtt, m.query_blocks
    rtt_pick = rtt_pick.tolist()
    i = 0
    for t in range(ntx):
        if i >= n:
            return
        uid = "C" + uids[t].tobytes().decode()
        first, length = m.runs[run_pick[t]]
        oh, rh, rp, proto = m.net[net_pick[t]]
        port, tid = int(port_pick[t]), int(tid_pick[t])
        for j in range(int(length)):
            if i >= n:
                return
            src = int(first) + j
            rec = {"_path": "dns", "_write_ts": wts_s[i], "ts": ts_s[i], "uid": uid,
                   "id.orig_h": oh, "id.orig_p": port, "id.resp_h": rh, "id.resp_p": rp,
                   "proto": proto, "trans_id": tid}
            if has_rtt[src]:
                rec["rtt"] = rtt[rtt_pick[i]]
            rec.update(blocks[src])
            yield rec
            i += 1
    raise AssertionError("transaction budget exhausted")  # pragma: no cover


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("n", type=int)
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=20180324)
    a = ap.parse_args()
    opener = gzip.open if a.out.suffix == ".gz" else open
    with opener(a.out, "wb") as f:
        for rec in iter_generate(a.n, a.seed):
            f.write(orjson.dumps(rec) + b"\n")


if __name__ == "__main__":
    main()
