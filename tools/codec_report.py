"""Where a set's bytes go: per-column breakdown of our encoding, next to Parquet's.

``.venv/bin/python tools/codec_report.py SET [--top N] [--alt N] [--ablate] [--profile] [--json OUT]``
(SET as in ``tools/bench_codec.py``; ``--register typed_strings,templates`` for a what-if).

1. **Columns** (``path:slot``) by stored bytes, over all groups, with the engine's default
   settings: values, raw bytes (8 per int/float, 1 per bool, UTF-8 bytes of strings), payload
   bytes (encoded, before zstd), stored bytes (chunk bytes: 24-byte header + body), share of
   all chunk bytes, and the encoding tree chosen (traced while decoding: ``str-dict[str-plain[
   int-narrow],int-narrow]``; ``xN`` when N groups chose it), with, for the top columns, each
   sub-column's payload bytes -> zstd bytes when compressed alone.
2. **Per top-level field**: ours (sum of every column under it) vs Parquet (sum of the
   ``total_compressed_size`` of its leaf column chunks over all row groups).
3. **Alternatives** (``--alt N`` biggest columns, ``-1`` all): every candidate of the column's kind forced as
   the top encoding (``only=``; sub-columns still chosen by sampling) and zstd'ed at the
   default level, per group, summed: the bytes the sampling choice loses against the best
   single candidate, plus zstd-19 of the values as newline-joined text (a "just zstd it"
   reference) for string columns; the total is the *selection regret*.
4. ``--ablate``: every non-fallback encoding removed in turn (this process only): the chunk
   bytes it saves and the encode CPU time it costs on this set.
5. ``--profile``: cProfile of encode (shred+encode) and decode (chunks+assemble), top entries
   by internal time.
"""
from __future__ import annotations

import argparse
import cProfile
import importlib
import io
import json
import pstats
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_codec as bc

from archive.codec import registry
from archive.codec.chunk import chunk_payload, read_header
from archive.codec.shred import ITEM, SLOT_KIND, path_str, to_array
from archive.engine.settings import Settings

# --------------------------------------------------------------------------- tracing


class Tracer:
    """Wraps every registered encoding's ``decode`` to record the tree a payload used."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def __enter__(self) -> Tracer:  # noqa: PYI034
        for enc in registry.registered():
            enc.decode = self._wrap(enc, enc.decode)  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        for enc in registry.registered():
            enc.__dict__.pop("decode", None)

    def _wrap(self, enc: Any, orig: Any) -> Any:
        events = self.events

        def decode(r: Any, count: int, kind: str, depth: int) -> np.ndarray:
            start = r._pos - 1  # the id byte was just read
            slot = len(events)
            events.append(None)
            out = orig(r, count, kind, depth)
            events[slot] = (depth, enc.name, count, bytes(r._buf[start:r._pos]))
            return out

        return decode

    def take(self) -> list:
        out, self.events[:] = list(self.events), []
        return out


def render(events: list) -> str:
    """Pre-order (depth, name, ...) events as ``name[child,child]``."""
    def go(i: int) -> tuple[str, int]:
        d, name = events[i][0], events[i][1]
        kids, j = [], i + 1
        while j < len(events) and events[j][0] > d:
            s, j = go(j)
            kids.append(s)
        return (f"{name}[{','.join(kids)}]" if kids else name), j
    return go(0)[0] if events else "?"


def path_label(path: tuple, slot: str) -> str:
    return f"{path_str(path)}:{slot}"


# --------------------------------------------------------------------------- report


def stored_bytes(e: bc.Encoded) -> list[float]:
    """Each chunk's stored bytes: its own, or its share of its bundle's (by its length)."""
    raw: Counter = Counter()
    for c in e.chunks:
        if c.at != bc.NO_BUNDLE:
            raw[c.seg] += len(c.data)
    return [len(c.data) * (len(e.segments[c.seg]) / raw[c.seg] if c.at != bc.NO_BUNDLE else 1)
            for c in e.chunks]


def column_rows(e: bc.Encoded, level: int) -> tuple[list[dict], dict]:
    z = zstandard.ZstdCompressor(level=level)
    cols: dict[tuple, dict] = {}
    stored = stored_bytes(e)
    with Tracer() as tr:
        for c, kept in zip(e.chunks, stored):
            h = read_header(c.data)
            payload = chunk_payload(c.data, h)
            registry.decode_values(h.kind, payload, h.count)
            ev = tr.take()
            row = cols.setdefault(c.cid, {"column": path_label(*c.cid), "kind": c.kind, "values": 0,
                                          "raw": 0, "payload": 0, "stored": 0, "chunks": 0,
                                          "trees": Counter(), "subs": defaultdict(lambda: [0, 0])})
            row["values"] += c.count
            row["payload"] += c.raw_len
            row["stored"] += kept
            row["chunks"] += 1
            row["trees"][render(ev)] += 1
            for depth, name, _count, body in ev[1:]:
                if depth == 1:  # direct sub-columns: alone, how much do they weigh after zstd?
                    sub = row["subs"][name]
                    sub[0] += len(body)
                    sub[1] += len(z.compress(body))
    total = sum(r["stored"] for r in cols.values())
    for r in cols.values():
        r["stored"] = round(r["stored"])
        r["share"] = r["stored"] / total
    return sorted(cols.values(), key=lambda r: -r["stored"]), {"chunk_bytes": total}


def raw_sizes(records: list, s: Settings, rows: dict[str, dict]) -> None:
    """Fill in each column's raw bytes (needs the shredded values again)."""
    shredder = bc.Shredder()
    for a in range(0, len(records), s.group_rows):
        for (path, slot), vals in shredder.shred(records[a:a + s.group_rows]).items():
            kind = SLOT_KIND[slot]
            if kind == "str":
                raw = sum(len(v.encode("utf-8", "surrogatepass")) for v in vals)
            elif kind == "bytes":
                raw = sum(map(len, vals))
            else:
                raw = len(vals) * (1 if kind == "bool" else 8)
            rows[path_label(path, slot)]["raw"] += raw


def parquet_columns(records: list) -> tuple[dict[str, int], int, str]:
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    table, note = bc.parquet_table(records)
    names = list(table.schema.names)
    data = bc.parquet_bytes(table)
    md = pq.ParquetFile(io.BytesIO(data)).metadata
    by_field: dict[str, int] = defaultdict(int)
    for g in range(md.num_row_groups):
        rg = md.row_group(g)
        for i in range(rg.num_columns):
            col = rg.column(i)
            p = col.path_in_schema
            owner = max((n for n in names if p == n or p.startswith(n + ".")), key=len, default=p)
            by_field[owner] += col.total_compressed_size
    return dict(by_field), len(data), note


def alternatives(records: list, s: Settings, e: bc.Encoded, cids: list[tuple]) -> list[dict]:
    z = zstandard.ZstdCompressor(level=s.zstd_level)
    z19 = zstandard.ZstdCompressor(level=19)
    out = []
    shredder = bc.Shredder()
    groups = [shredder.shred(records[a:a + s.group_rows]) for a in range(0, len(records), s.group_rows)]
    for cid in cids:
        kind = SLOT_KIND[cid[1]]
        # the chosen encoding's body compressed alone, as the candidates are (a bundled chunk
        # is stored raw: its bundle compresses it)
        chosen = sum(min(len(z.compress(p)), len(p))
                     for p in (bytes(chunk_payload(c.data)) for c in e.chunks if c.cid == cid))
        per: dict[str, int | None] = {}
        joined = 0
        for enc in registry.registered(kind):
            tot, applies = 0, True
            for cols in groups:
                if cid not in cols:
                    continue
                arr = to_array(cid[1], cols[cid])
                try:
                    body = registry.encode_values(kind, arr, only=(enc.codec_id,))
                except ValueError:
                    applies = False
                    break
                tot += min(len(z.compress(body)), len(body))
            per[enc.name] = tot if applies else None
        if kind in ("str", "bytes"):
            for cols in groups:
                if cid in cols:
                    v = cols[cid]
                    blob = "\n".join(v).encode("utf-8", "surrogatepass") if kind == "str" else b"\n".join(v)
                    joined += len(z19.compress(blob))
        best = min((v, k) for k, v in per.items() if v is not None)
        out.append({"column": path_label(*cid), "chosen_body": chosen, "candidates": per,
                    "best": best[1], "best_body": best[0], "lost": chosen - best[0],
                    "zstd19_joined": joined or None})
    return out


def ablate(records: list, s: Settings, repeat: int = 2) -> list[dict]:
    """Each non-fallback encoding removed in turn: bytes and encode CPU time it is worth.

    The encoding is taken out of its kinds' candidate lists (``registry._BY_KIND``) in this
    process only; encode time is the encode phase (``to_array`` + selection + encode + zstd),
    best of ``repeat``.
    """
    def run() -> tuple[int, float]:
        best, size = float("inf"), 0
        for _ in range(max(repeat, 1)):
            e = bc.encode_records(records, s, stats=False)
            best, size = min(best, e.t_encode), e.chunk_bytes
        return size, best

    base_bytes, base_t = run()
    out = [{"encoding": "(all)", "bytes": base_bytes, "encode_s": base_t}]
    by_kind = registry._BY_KIND
    for enc in registry.registered():
        kinds = [k for k in enc.kinds if by_kind[k] and by_kind[k][0] is not enc]
        if not kinds:
            continue  # a fallback: cannot be removed
        saved = {k: list(by_kind[k]) for k in kinds}
        try:
            for k in kinds:
                by_kind[k].remove(enc)
            b, t = run()
        except ValueError as err:  # another encoding asks for this one by id (``only=``)
            out.append({"encoding": enc.name, "error": str(err)[:80]})
            continue
        finally:
            for k in kinds:
                by_kind[k][:] = saved[k]
        out.append({"encoding": enc.name, "bytes": b, "encode_s": t,
                    "saves_bytes": b - base_bytes, "costs_s": base_t - t})
    return out


def profile(records: list, s: Settings, top: int) -> dict[str, str]:
    out = {}
    pr = cProfile.Profile()
    pr.enable()
    e = bc.encode_records(records, s)
    pr.disable()
    buf = io.StringIO()
    pstats.Stats(pr, stream=buf).sort_stats("tottime").print_stats(top)
    out["encode"] = buf.getvalue()
    pr = cProfile.Profile()
    pr.enable()
    bc.decode_all(e)
    pr.disable()
    buf = io.StringIO()
    pstats.Stats(pr, stream=buf).sort_stats("tottime").print_stats(top)
    out["decode"] = buf.getvalue()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("set", choices=list(bc.SETS))
    ap.add_argument("--data", type=Path, default=bc.DEFAULT_DATA)
    ap.add_argument("--top", type=int, default=25, help="columns listed")
    ap.add_argument("--alt", type=int, default=10,
                    help="columns tried with every candidate (biggest first; -1: all)")
    ap.add_argument("--ablate", action="store_true",
                    help="re-encode with each encoding removed: bytes saved / encode time cost")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--profile-top", type=int, default=20)
    ap.add_argument("--register", default="")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    for mod in filter(None, args.register.split(",")):
        importlib.import_module(f"archive.codec.{mod}")
    s = Settings()
    records = bc.SETS[args.set](args.data)
    e = bc.encode_records(records, s)
    rows, tot = column_rows(e, s.zstd_level)
    by_label = {r["column"]: r for r in rows}
    raw_sizes(records, s, by_label)
    total = round(tot["chunk_bytes"])
    print(f"{args.set}: {len(records)} records, {len(e.groups)} groups, {len(rows)} columns, "
          f"{len(e.chunks)} chunks; chunks {total:,} B + index estimate {e.index_bytes:,} B "
          f"(zstd {s.zstd_level})")
    print(f"{'column':<34}{'values':>9}{'raw B':>12}{'payload B':>11}{'stored B':>10}{'share':>7}  encoding")
    for r in rows[:args.top]:
        trees = ", ".join(f"{t}" + (f" x{n}" if len(r["trees"]) > 1 else "") for t, n in r["trees"].most_common())
        print(f"{r['column'][:33]:<34}{r['values']:>9,}{r['raw']:>12,}{r['payload']:>11,}{r['stored']:>10,}"
              f"{r['share']:>7.1%}  {trees}")
    rest = rows[args.top:]
    if rest:
        print(f"{f'(other {len(rest)} columns)':<34}{'':>9}{'':>12}{sum(r['payload'] for r in rest):>11,}"
              f"{sum(r['stored'] for r in rest):>10,}{sum(r['share'] for r in rest):>7.1%}")
    print("\nsub-columns of the top columns (payload B -> zstd alone B):")
    for r in rows[:min(args.top, 12)]:
        if r["subs"]:
            print(f"  {r['column']:<32} " + "; ".join(f"{k} {v[0]:,}->{v[1]:,}" for k, v in r["subs"].items()))

    pq_cols, pq_total, note = parquet_columns(records)
    ours_field: dict[str, float] = defaultdict(float)
    for c, kept in zip(e.chunks, stored_bytes(e)):
        path = c.cid[0]
        ours_field[path[0] if path and path[0] is not ITEM else "$ (root)"] += kept
    fields = sorted(set(ours_field) | set(pq_cols), key=lambda f: -max(ours_field.get(f, 0), pq_cols.get(f, 0)))
    print(f"\nper top-level field: ours (all its columns' chunks) vs parquet column chunks "
          f"(parquet file {pq_total:,} B, via {note})")
    print(f"{'field':<28}{'ours B':>10}{'parquet B':>11}{'ours/pq':>8}")
    for f in fields[:args.top]:
        o, p = ours_field.get(f, 0), pq_cols.get(f, 0)
        print(f"{str(f)[:27]:<28}{round(o):>10,}{p:>11,}{(o / p if p else float('nan')):>8.2f}")

    alts = []
    if args.alt:
        ranked = sorted({c.cid for c in e.chunks}, key=lambda c: -by_label[path_label(*c)]["stored"])
        alts = alternatives(records, s, e, ranked if args.alt < 0 else ranked[:args.alt])
        print(f"\nalternatives (body bytes after zstd {s.zstd_level}, summed over groups; "
              "each candidate forced as the top encoding):")
        for a in alts:
            cands = " ".join(f"{k}={'-' if v is None else f'{v:,}'}" for k, v in a["candidates"].items())
            j = f"; zstd19(joined) {a['zstd19_joined']:,}" if a["zstd19_joined"] else ""
            if a["lost"] > 0 or len(alts) <= 12:
                print(f"  {a['column']:<30} chosen {a['chosen_body']:,}; best {a['best']} {a['best_body']:,} "
                      f"(lost {a['lost']:,}){j}\n      {cands}")
        lost = sum(max(a["lost"], 0) for a in alts)
        print(f"  selection regret over {len(alts)} columns: {lost:,} B "
              f"({lost / (total + e.index_bytes):.1%} of ours) lost to the sampling choice")
    abl: list[dict] = []
    if args.ablate:
        abl = ablate(records, s)
        base = abl[0]
        nb = len(bc.json_lines(records))
        print(f"\nablation: each encoding removed in turn (chunk bytes; encode phase CPU s, best of 2;"
              f" all registered: {base['bytes']:,} B, {base['encode_s']:.3f} s ="
              f" {nb / 1e6 / base['encode_s']:.1f} MB/s)")
        print(f"{'encoding':<16}{'bytes without':>14}{'it saves B':>12}{'saves %':>9}{'it costs s':>12}{'costs %':>9}")
        for a in sorted(abl[1:], key=lambda a: -a.get("saves_bytes", -1)):
            if "error" in a:
                print(f"{a['encoding']:<16} cannot be removed: {a['error']}")
                continue
            print(f"{a['encoding']:<16}{a['bytes']:>14,}{a['saves_bytes']:>12,}{a['saves_bytes'] / base['bytes']:>9.2%}"
                  f"{a['costs_s']:>12.3f}{a['costs_s'] / base['encode_s']:>9.1%}")
    prof = {}
    if args.profile:
        prof = profile(records, s, args.profile_top)
        for k, v in prof.items():
            print(f"\n=== cProfile {k} (tottime) ===")
            print("\n".join(line for line in v.splitlines() if line.strip())[:6000])
    if args.json:
        for r in rows:
            r["trees"] = dict(r["trees"])
            r["subs"] = {k: list(v) for k, v in r["subs"].items()}
        args.json.write_text(json.dumps({"set": args.set, "columns": rows, "index_bytes": e.index_bytes,
                                         "parquet_fields": pq_cols, "parquet_bytes": pq_total,
                                         "ours_fields": {str(k): v for k, v in ours_field.items()},
                                         "alternatives": alts, "ablation": abl, "profile": prof},
                                        indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
