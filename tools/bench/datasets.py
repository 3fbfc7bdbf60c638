"""The benchmark's data sets: JSON-lines bytes, one unique string key per record, and what the
one-column scan and the filtered scan read on each.

Every set is a list of JSON documents (the ingest input, one per line), a parallel list of
keys, a top-level ``column`` field and a filter ``(path, op, value)`` with op ``==`` or ``>=``
(path = tuple of keys, so ``("id.orig_p",)`` is the top-level key with a dot in it).
"""
from __future__ import annotations

import gzip
import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datagen
import orjson

SHARED = datagen.SHARED


@dataclass
class DataSet:
    name: str
    lines: list[bytes]
    keys: list[str]
    column: str
    flt: tuple[tuple[str, ...], str, Any]
    note: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.lines)

    @property
    def nbytes(self) -> int:
        """Size of the JSON-lines input (each line plus its newline)."""
        return sum(map(len, self.lines)) + len(self.lines)

    def record(self, i: int) -> Any:
        return orjson.loads(self.lines[i])


def _uid_keys(recs: Iterable[dict]) -> list[str]:
    """Zeek uids repeat within a transaction: key = uid#occurrence (unique, natural order)."""
    seen: Counter = Counter()
    out = []
    for r in recs:
        u = r["uid"]
        out.append(f"{u}#{seen[u]}")
        seen[u] += 1
    return out


ZEEK_FLT = (("qtype_name",), "==", "AAAA")


def zeek() -> DataSet:
    with gzip.open(SHARED / "zeek" / "dns.json.gz", "rb") as f:
        lines = [ln.rstrip(b"\n") for ln in f if ln.strip()]
    keys = _uid_keys(orjson.loads(ln) for ln in lines)
    return DataSet("zeek", lines, keys, "id.orig_p", ZEEK_FLT, "real Zeek DNS log")


def generated(n: int, seed: int = 20180324) -> DataSet:
    buf, uids = io.BytesIO(), []
    for r in datagen.iter_generate(n, seed):  # streamed: the dicts are not all kept alive
        buf.write(orjson.dumps(r))  # orjson's result keeps ~7 KB of slack each: not kept
        buf.write(b"\n")
        uids.append({"uid": r["uid"]})
    lines = buf.getvalue().split(b"\n")[:-1]
    return DataSet(f"gen{n // 1000}k", lines, _uid_keys(uids), "id.orig_p", ZEEK_FLT,
                   f"datagen.py scale-up of Zeek DNS, seed {seed}")


def _docs(name: str, recs: list, keys: list[str], column: str, flt: tuple, note: str) -> DataSet:
    return DataSet(name, [orjson.dumps(r) for r in recs], keys, column, flt, note)


def twitter() -> DataSet:
    st = orjson.loads((SHARED / "simdjson" / "twitter.json").read_bytes())["statuses"]
    return _docs("twitter", st, [s["id_str"] for s in st], "retweet_count",
                 (("lang",), "==", "zh"), "simdjson twitter.json statuses")


def citm() -> DataSet:
    ev = list(orjson.loads((SHARED / "simdjson" / "citm_catalog.json").read_bytes())["events"].values())
    med = sorted(e["id"] for e in ev)[len(ev) // 2]
    return _docs("citm", ev, [str(e["id"]) for e in ev], "id", (("id",), ">=", med),
                 "simdjson citm_catalog.json events values")


def gsoc() -> DataSet:
    g = orjson.loads((SHARED / "simdjson" / "gsoc-2018.json").read_bytes())
    return _docs("gsoc", list(g.values()), list(g), "name", (("sponsor", "name"), "==", "NumFOCUS"),
                 "simdjson gsoc-2018.json values (nested filter path)")


def canada() -> DataSet:
    feat = orjson.loads((SHARED / "simdjson" / "canada.json").read_bytes())["features"]
    recs = [{"ring": i, "points": len(ring), "coordinates": ring}
            for f in feat for i, ring in enumerate(f["geometry"]["coordinates"])]
    return _docs("canada", recs, [f"ring-{r['ring']}" for r in recs], "points",
                 (("points",), ">=", 100), "simdjson canada.json polygon rings as records")


def github() -> DataSet:
    ev = orjson.loads((SHARED / "simdjson" / "github_events.json").read_bytes())
    return _docs("github", ev, [e["id"] for e in ev], "type", (("type",), "==", "PushEvent"),
                 "simdjson github_events.json array")


def loghub() -> DataSet:
    recs, keys = [], []
    for p in sorted((SHARED / "loghub").glob("*_2k.log")):
        src = p.name.removesuffix("_2k.log")
        for i, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines()):
            recs.append({"source": src, "line": line})
            keys.append(f"{src}:{i}")
    return _docs("loghub", recs, keys, "line", (("source",), "==", "OpenSSH"),
                 "all loghub *_2k.log lines as {source, line}")


REAL = {"zeek": zeek, "twitter": twitter, "citm": citm, "gsoc": gsoc, "canada": canada,
        "github": github, "loghub": loghub}


def load(names: list[str], gen_records: int, cache: Path | None = None) -> list[DataSet]:
    """Data sets by name; ``gen`` is the generated set of ``gen_records`` records (kept as
    JSON lines + keys files under ``cache`` when given, so each benchmark process reuses it)."""
    return [cached_generated(gen_records, cache) if n == "gen" else REAL[n]() for n in names]


def cached_generated(n: int, cache: Path | None, seed: int = 20180324) -> DataSet:
    if cache is None:
        return generated(n, seed)
    lines_f, keys_f = cache / f"gen-{n}-{seed}.jsonl", cache / f"gen-{n}-{seed}.keys"
    if not keys_f.exists():
        ds = generated(n, seed)
        cache.mkdir(parents=True, exist_ok=True)
        lines_f.write_bytes(b"\n".join(ds.lines))
        keys_f.write_text("\n".join(ds.keys))  # written last: its presence marks a complete cache
        return ds
    return DataSet(f"gen{n // 1000}k", lines_f.read_bytes().split(b"\n"),
                   keys_f.read_text().split("\n"), "id.orig_p", ZEEK_FLT,
                   f"datagen.py scale-up of Zeek DNS, seed {seed}")
