"""Benchmark the tree-buf codec on the real data sets against zstd -19 and Parquet.

Sets (``--data``, default ``../shared/data``), each exploded into records:

=================  ==========================================================================
``zeek-dns``       ``zeek/dns.json.gz``: one record per line
``twitter``        ``simdjson/twitter.json``: the ``statuses`` items
``gsoc-2018``      ``simdjson/gsoc-2018.json``: the values of the top-level object
``citm-events``    ``simdjson/citm_catalog.json``: the values of ``events``
``citm-perf``      ``simdjson/citm_catalog.json``: the ``performances`` items
``canada``         ``simdjson/canada.json``: the ``features`` items (there is only one)
``canada-doc``     ``simdjson/canada.json``: one record = the whole document
``canada-rings``   ``simdjson/canada.json``: one record ``{"ring": [[x, y], ...]}`` per ring
=================  ==========================================================================

For every set, in one run:

* **JSON bytes**: ``b"\\n".join(orjson.dumps(r) for r in records)`` - the reference input size
  for every MB/s figure (MB = 10**6 bytes of these JSON lines).
* **zstd-19**: those JSON lines, one frame, level 19.
* **parquet**: ``pa.Table.from_pylist(records)`` written with ``compression="zstd"`` (pyarrow's
  default level).  ``from_pylist`` infers the columns from the *first* record only, so when the
  records' top-level keys differ the table is built column-wise over the union of the keys
  (``pa.array`` per key, absent = null) instead; a key whose values ``pa.array`` cannot type
  (mixed types) is stored as JSON text (``orjson.dumps`` per value), and the fallback is named
  in the ``parquet via`` note.
* **pyarrow JSON->parquet**: ``pyarrow.json.read_json`` of the JSON lines (``use_threads=False``)
  + ``pq.write_table`` (zstd), timed: the single-core speed to match.
* **ours**: the engine's default :class:`~archive.engine.settings.Settings` (``group_rows``,
  ``chunk_items``/``chunk_bytes`` splitting, ``zstd_level``), mirroring ``Archive.extend`` and
  ``Writer.flush_group``: records cut into groups of ``group_rows``, each group shredded
  (one :class:`Shredder`/shape table for the whole set), every column ``to_array``'d, cut
  into pieces and encoded by a :class:`ChunkEncoder` through the writer's ``encode_reusing``
  (a column reuses its last choices, sub-columns' included, between selections); chunk
  statistics computed as the writer does.  Size = all chunk bytes (24-byte header included)
  + the index estimate, packed by the engine's own code as one commit would: the segment
  table (offset and length per chunk); per group its key + its packed directory (chunk references,
  first items, parents, statistics); the column definitions and each node's shapes as packed
  batches (LMDB page overhead excluded).  Also reported at zstd levels 3 and 19.
* **encode MB/s**: shred (``Shredder.shred`` + ``Writer.check`` + the raw-size count of
  ``Writer.add``, as ``Archive.extend`` does) + encode (``to_array``, pieces, ``ChunkEncoder``)
  (+ chunk stats), each phase timed; **decode MB/s**: decode every
  chunk (``decode_chunk``: crc + zstd + encoding) + assemble every record
  (``GroupReader.records``).  Best of ``--repeat`` runs, single thread, in CPU seconds of the
  process (``time.process_time``: the machine is shared, wall time would time the neighbours).  The round trip is
  checked (assembled records == input) outside the timings.

Targets: ours <= 0.8 x min(zstd-19, parquet); encode >= 50 MB/s; decode >= 200 MB/s.

Usage: ``.venv/bin/python tools/bench_codec.py [--sets a,b] [--repeat N] [--json OUT]
[--levels 3,19] [--register typed_strings,templates] [--engine] [--setting bundle_bytes=0]`` (``--register`` imports
extra ``archive.codec`` encoding modules first, for a what-if; ``--estimator-level N`` swaps
the selection estimator's zstd level, another what-if; ``--engine`` adds an end-to-end
``archive.open(..., "a").extend`` + iterate cross-check with on-disk sizes).
"""
from __future__ import annotations

import argparse
import gc
import importlib
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_codec_inputs import (
    CLOCK,
    DEFAULT_DATA,
    SETS,
    json_lines,
    parquet_bytes,
    parquet_table,
    pyarrow_json_to_parquet,
)
from bench_codec_table import print_table

import archive.codec  # noqa: F401  (registers the default encodings)
from archive.codec import registry
from archive.codec.assemble import GroupReader
from archive.codec.chunk import HEADER_SIZE, ChunkEncoder, decode_chunk
from archive.codec.shred import SLOT_KIND, Shredder, to_array
from archive.engine.settings import Settings
from archive.engine.chunking import chunk_pieces, encode_reusing, parent_column
from archive.engine.writer import Writer
from archive.engine.view import path_to_json
from archive.index.records import (
    CHUNK_REF, NO_BUNDLE, NO_PARENT, REF_AT, REF_SEG, GroupEntry, chunk_stats, pack_columns, pack_defs, pack_segments,
)
from archive.storage.bundles import BundlePacker, unpack_bundle

SIZE_TARGET = 0.8
ENCODE_TARGET = 50.0
DECODE_TARGET = 200.0
MB = 1e6


# --------------------------------------------------------------------------- our codec


@dataclass
class Chunk:
    group: int
    cid: tuple  # (path, slot)
    part: int
    kind: str
    count: int
    data: bytes
    codec_id: int
    raw_len: int
    stats: dict | None
    seg: int = 0  # the segment holding it: its own, or its bundle's
    at: int = NO_BUNDLE  # its place in its bundle


@dataclass
class Encoded:
    groups: list[int]  # rows per group
    chunks: list[Chunk]
    shredder: Shredder
    segments: list[bytes] = field(default_factory=list)  # stored: chunks and bundles
    t_shred: float = 0.0
    t_encode: float = 0.0
    t_stats: float = 0.0
    columns: dict = field(default_factory=dict)  # cid -> column number (first-seen order)

    @property
    def chunk_bytes(self) -> int:
        return sum(map(len, self.segments))

    @property
    def index_parts(self) -> dict[str, int]:
        """The index estimate by part (bytes of LMDB keys + values, page overhead excluded),
        each part built by the engine's own packing (one commit for the whole set)."""
        colno = self.columns
        dirs = 0
        items: dict[tuple, int] = {}  # values of each column in the chunks so far
        for g, rows in enumerate(self.groups):
            chunks = [c for c in self.chunks if c.group == g]
            refs = np.zeros(len(chunks), dtype=CHUNK_REF)
            refs["col"] = [colno[c.cid] for c in chunks]
            refs["count"] = [c.count for c in chunks]
            refs["raw"] = [c.raw_len for c in chunks]
            refs["stored"] = [len(c.data) for c in chunks]
            refs["enc"] = [c.codec_id for c in chunks]
            refs["seg"] = [c.seg for c in chunks]
            refs["at"] = [c.at for c in chunks]
            firsts = []
            for c in chunks:
                firsts.append(items.get(c.cid, 0))
                items[c.cid] = firsts[-1] + c.count
            parents = [NO_PARENT if parent_column(*c.cid) is None else colno.get(parent_column(*c.cid), 0)
                       for c in chunks]
            entry = GroupEntry.build(0, rows, refs, firsts, parents, [c.stats or {} for c in chunks])
            dirs += 8 + len(entry.pack())
        shapes = [[colno.get((path, "shape"), 0), 0, [list(keys) for keys in table]]
                  for path, table in self.shredder.shapes.by_node.items() if table]
        lengths = list(map(len, self.segments))  # one segment file, one commit
        return {
            "segtab": 8 + len(pack_segments(np.stack([16 + np.cumsum([0] + lengths[:-1]), lengths], 1))),
            "groups": dirs,  # key + head + packed directory (references, parents, statistics)
            "columns": 4 + len(pack_columns([(path_to_json(p), slot) for p, slot in colno])),
            "shapes": 4 + len(pack_defs(shapes)) if shapes else 0,  # one batch
        }

    @property
    def index_bytes(self) -> int:
        return sum(self.index_parts.values())

    @property
    def total_bytes(self) -> int:
        return self.chunk_bytes + self.index_bytes




def encode_records(records: list, s: Settings, level: int | None = None,
                   stats: bool = True) -> Encoded:
    """Shred + encode ``records`` the way ``Archive.extend`` + ``Writer.flush_group`` do."""
    enc = ChunkEncoder(s.zstd_level if level is None else level)
    shredder = Shredder()
    out = Encoded([], [], shredder)
    colno = out.columns
    choice: dict = {}  # each column's last choices, reused as the writer does
    clock = CLOCK
    for g, a in enumerate(range(0, len(records), s.group_rows)):
        batch = records[a:a + s.group_rows]
        t0 = clock()
        cols = shredder.shred(batch)
        Writer.check(cols)  # Archive.extend's per-batch check, and Writer.add's raw-size count
        sum(sum(map(len, v)) + 4 * len(v) if SLOT_KIND[c[1]] in ("str", "bytes") else 8 * len(v)
            for c, v in cols.items())
        t1 = clock()
        out.t_shred += t1 - t0
        out.groups.append(len(batch))
        for cid in cols:  # the writer numbers columns in first-seen order
            colno.setdefault(cid, len(colno))
        segments = out.segments

        def store(data: bytes) -> tuple[int, int]:
            segments.append(data)
            return 0, len(segments) - 1

        packer = BundlePacker(enc.level, store)
        made: list[tuple[Chunk, list[int]]] = []
        for cid in sorted(cols, key=colno.__getitem__):
            t1 = clock()
            kind = SLOT_KIND[cid[1]]
            arr = to_array(cid[1], cols[cid])
            cut = chunk_pieces(kind, arr, s)
            encoded = [encode_reusing(enc, choice, cid, kind, arr[a:b], raw_below=s.bundle_bytes)
                       for a, b in cut]
            for part, ((a, b), e) in enumerate(zip(cut, encoded)):  # as Writer.flush_group
                ref = [0, 0, 0, 0, 0, 0, 0, NO_BUNDLE]
                if e.raw_len <= s.bundle_bytes:
                    packer.add(e.data, ref)
                else:
                    ref[REF_SEG] = store(e.data)[1]
                made.append((Chunk(g, cid, part, kind, b - a, e.data, e.codec_id, e.raw_len, None), ref))
            t2 = clock()
            out.t_encode += t2 - t1
            if stats:
                for (a, b), (c, _) in zip(cut, made[len(made) - len(cut):]):
                    c.stats = chunk_stats(kind, arr[a:b], cid[1])
            out.t_stats += clock() - t2
        t1 = clock()
        packer.close()
        out.t_encode += clock() - t1
        for c, ref in made:
            c.seg, c.at = ref[REF_SEG], ref[REF_AT]
            out.chunks.append(c)
    return out


def decode_all(e: Encoded, assemble: bool = True) -> tuple[list, float, float]:
    """Decode every chunk, then assemble every record; returns (records, t_decode, t_assemble)."""
    clock = CLOCK
    t_dec = t_asm = 0.0
    records: list = []
    shapes = e.shredder.shapes.shapes
    by_group: dict[int, list[Chunk]] = {}
    for c in e.chunks:
        by_group.setdefault(c.group, []).append(c)
    for g, n in enumerate(e.groups):
        t0 = clock()
        cols: dict[tuple, list[np.ndarray]] = {}
        bundles: dict[int, bytes] = {}
        for c in by_group.get(g, []):
            if c.at == NO_BUNDLE:
                data: bytes | memoryview = e.segments[c.seg]
            else:
                if c.seg not in bundles:
                    bundles[c.seg] = unpack_bundle(e.segments[c.seg])
                data = memoryview(bundles[c.seg])[c.at:c.at + len(c.data)]
            cols.setdefault(c.cid, []).append(decode_chunk(data)[1])
        arrays = {cid: (v[0] if len(v) == 1 else np.concatenate(v)) for cid, v in cols.items()}
        t1 = clock()
        t_dec += t1 - t0
        if assemble:
            reader = GroupReader(n, arrays.get, shapes)
            records.extend(reader.records(0, n))
            t_asm += clock() - t1
    return records, t_dec, t_asm


# --------------------------------------------------------------------------- one set


def engine_check(records: list, nb: int) -> dict:
    """The real engine, end to end: ``extend`` + ``commit`` into a fresh archive, then iterate.

    Sizes: segment files (chunks) and every other file but the lock files (the LMDB
    ``data.mdb``, its page overhead included); speeds in CPU seconds like the rest (the writer runs one thread; reads may use
    the archive's decompression threads, whose CPU time is counted too).
    """
    import shutil
    import tempfile

    import archive as ar_mod

    d = Path(tempfile.mkdtemp(prefix="bench_codec_"))
    try:
        t0 = CLOCK()
        with ar_mod.open(d / "a", "a") as a:
            a.extend(records)
            a.commit()
        t1 = CLOCK()
        with ar_mod.open(d / "a") as a:
            back = list(a)
        t2 = CLOCK()
        files = [f for f in (d / "a").rglob("*") if f.is_file()]
        seg = sum(f.stat().st_size for f in files if f.name.startswith("seg-"))
        total = sum(f.stat().st_size for f in files if "lock" not in f.name.lower())
        return {"engine_bytes": total, "engine_segment_bytes": seg, "engine_index_bytes": total - seg,
                "engine_write_mbs": nb / MB / (t1 - t0), "engine_read_mbs": nb / MB / (t2 - t1),
                "engine_roundtrip_ok": back == records,
                "engine_files": sorted(f"{f.name}:{f.stat().st_size}" for f in files)}
    finally:
        shutil.rmtree(d, ignore_errors=True)


def bench_set(name: str, records: list, s: Settings, repeat: int, levels: list[int],
              verify: bool, engine: bool = False) -> dict:
    data = json_lines(records)
    nb = len(data)
    row: dict[str, Any] = {"set": name, "records": len(records), "json_bytes": nb}
    t0 = CLOCK()
    parsed = [orjson.loads(x) for x in data.split(b"\n")]
    row["orjson_parse_mbs"] = nb / MB / (CLOCK() - t0)
    del parsed
    row["zstd19_bytes"] = len(zstandard.ZstdCompressor(level=19).compress(data))
    row["zstd3_bytes"] = len(zstandard.ZstdCompressor(level=3).compress(data))

    table, note = parquet_table(records)
    row["parquet_bytes"] = len(parquet_bytes(table))
    row["parquet_zstd19_bytes"] = len(parquet_bytes(table, 19))
    row["parquet_via"] = note
    del table
    pa_t, pa_size, pa_err = pyarrow_json_to_parquet(data, repeat)
    row["pyarrow_json_parquet_mbs"] = nb / MB / pa_t if pa_t else None
    row["pyarrow_json_parquet_bytes"] = pa_size
    row["pyarrow_json_parquet_error"] = pa_err or None

    # ours at the default level: timed, best of `repeat`
    best_e = best_d = None
    for _ in range(repeat):
        gc.collect()
        e = encode_records(records, s)
        if best_e is None or e.t_shred + e.t_encode + e.t_stats < best_e[0]:
            best_e = (e.t_shred + e.t_encode + e.t_stats, e.t_shred, e.t_encode, e.t_stats)
        gc.collect()
        out, td, ta = decode_all(e)
        if best_d is None or td + ta < best_d[0]:
            best_d = (td + ta, td, ta)
    if verify and out != records:
        bad = next(i for i, (x, y) in enumerate(zip(out, records)) if x != y) \
            if len(out) == len(records) else f"count {len(out)} != {len(records)}"
        raise AssertionError(f"{name}: round trip differs (first at record {bad})")
    row["roundtrip_ok"] = bool(verify)
    row["groups"] = len(e.groups)
    row["chunks"] = len(e.chunks)
    row["columns"] = len(e.columns)
    row["ours_chunk_bytes"] = e.chunk_bytes
    row["ours_index_bytes"] = e.index_bytes
    row["ours_index_parts"] = e.index_parts
    row["ours_chunk_headers"] = len(e.chunks) * HEADER_SIZE
    row["ours_bytes"] = e.total_bytes
    row["ours_level"] = s.zstd_level
    peer = min(row["zstd19_bytes"], row["parquet_bytes"])
    row["ours_vs_min_peer"] = e.total_bytes / peer
    assert best_e is not None and best_d is not None  # repeat >= 1
    row["encode_mbs"] = nb / MB / best_e[0]
    row["shred_mbs"] = nb / MB / best_e[1]
    row["encode_only_mbs"] = nb / MB / best_e[2]
    row["stats_mbs"] = nb / MB / best_e[3] if best_e[3] else None
    row["decode_mbs"] = nb / MB / best_d[0]
    row["decode_chunks_mbs"] = nb / MB / best_d[1]
    row["assemble_mbs"] = nb / MB / best_d[2]
    for lv in levels:
        if lv == s.zstd_level:
            continue
        el = encode_records(records, s, level=lv)
        row[f"ours_bytes_l{lv}"] = el.total_bytes
        row[f"encode_mbs_l{lv}"] = nb / MB / (el.t_shred + el.t_encode + el.t_stats)
    if engine:
        row.update(engine_check(records, nb))
    row["size_ok"] = row["ours_vs_min_peer"] <= SIZE_TARGET
    row["encode_ok"] = row["encode_mbs"] >= ENCODE_TARGET
    row["decode_ok"] = row["decode_mbs"] >= DECODE_TARGET
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--sets", default=",".join(SETS), help="comma-separated: " + ",".join(SETS))
    ap.add_argument("--repeat", type=int, default=3, help="timed runs (best is kept), >= 1")
    ap.add_argument("--levels", default="3,19", help="extra zstd levels for ours (sizes)")
    ap.add_argument("--register", default="", help="extra archive.codec modules to import")
    ap.add_argument("--estimator-level", type=int,
                    help="what-if: zstd level of the selection estimator (replaces "
                         "registry.ESTIMATE_LEVEL in this process only)")
    ap.add_argument("--setting", action="append", default=[], metavar="NAME=INT",
                    help="a Settings field for ours, e.g. bundle_bytes=0 (repeatable)")
    ap.add_argument("--no-verify", action="store_true")
    ap.add_argument("--engine", action="store_true",
                    help="also write/read each set through archive.open (sizes on disk, speeds)")
    ap.add_argument("--json", type=Path, help="write the rows here")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    for mod in filter(None, args.register.split(",")):
        importlib.import_module(f"archive.codec.{mod}")
    if args.estimator_level is not None:
        registry.ESTIMATE_LEVEL = args.estimator_level
    try:
        s = Settings(**{k: int(v) for k, v in (x.split("=", 1) for x in args.setting)})
    except (ValueError, TypeError) as e:
        ap.error(f"--setting: {e}")
    levels = sorted({s.zstd_level, *(int(x) for x in args.levels.split(",") if x)})
    names = [n for n in args.sets.split(",") if n]
    unknown = [n for n in names if n not in SETS]
    if unknown:
        ap.error(f"unknown sets: {', '.join(unknown)}")
    encs = {k: [e.name for e in registry.registered(k)] for k in registry.KINDS}
    print("encodings: " + "; ".join(f"{k}: {','.join(v)}" for k, v in encs.items()))
    rows = []
    for n in names:
        recs = SETS[n](args.data)
        rows.append(bench_set(n, recs, s, args.repeat, levels, not args.no_verify, args.engine))
        print(f"  done {n}", file=sys.stderr)
    print_table(rows, s, levels)
    if args.json:
        args.json.write_text(json.dumps({"settings": asdict(s),
                                         "encodings": encs, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
