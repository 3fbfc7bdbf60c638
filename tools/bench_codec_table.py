"""The report of ``tools/bench_codec.py``: the table of sizes and speeds, one row per set,
then one line of target flags and notes per set (columns explained in its docstring)."""
from __future__ import annotations

from typing import Any

from archive.engine.settings import Settings


def _f(v: Any, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def print_table(rows: list[dict], s: Settings, levels: list[int]) -> None:
    hdr = (f"{'set':<13}{'recs':>7}{'JSON B':>11}{'zstd19 B':>10}{'parquet B':>10}"
           f"{'ours B':>10}{'(idx)':>7}{'/min':>6}")
    extra = [lv for lv in levels if lv != s.zstd_level]
    for lv in extra:
        hdr += f"{f'@{lv} /min':>9}"
    hdr += (f"{'enc':>6}{'shred':>7}{'enc':>6}{'dec':>6}{'chunk':>7}{'asm':>6}{'pa':>6}")
    print(f"ours @ zstd {s.zstd_level}, group_rows {s.group_rows}; ours B = chunks + index estimate;"
          " MB/s of JSON lines (enc = shred+encode+stats; dec = chunks+assemble; pa = pyarrow"
          " read_json+write_table, 1 thread)")
    print(hdr)
    for r in rows:
        peer = min(r["zstd19_bytes"], r["parquet_bytes"])
        line = (f"{r['set']:<13}{r['records']:>7}{r['json_bytes']:>11,}{r['zstd19_bytes']:>10,}"
                f"{r['parquet_bytes']:>10,}{r['ours_bytes']:>10,}{r['ours_index_bytes']:>7,}"
                f"{r['ours_vs_min_peer']:>6.2f}")
        for lv in extra:
            line += f"{r[f'ours_bytes_l{lv}'] / peer:>9.2f}"
        line += (f"{r['encode_mbs']:>6.1f}{r['shred_mbs']:>7.1f}{r['encode_only_mbs']:>6.1f}"
                 f"{r['decode_mbs']:>6.1f}{r['decode_chunks_mbs']:>7.1f}{r['assemble_mbs']:>6.1f}"
                 f"{_f(r['pyarrow_json_parquet_mbs']):>6}")
        print(line)
    print()
    for r in rows:
        peer = min(r["zstd19_bytes"], r["parquet_bytes"])
        flags = [f"size {'OK' if r['size_ok'] else 'MISS'} ({r['ours_vs_min_peer']:.2f})",
                 f"enc {'OK' if r['encode_ok'] else 'MISS'}", f"dec {'OK' if r['decode_ok'] else 'MISS'}"]
        ip = r["ours_index_parts"]
        notes = [f"chunks only /min {r['ours_chunk_bytes'] / peer:.2f}",
                 (f"index {r['ours_index_bytes']:,} B ({r['chunks']} chunks: segment table {ip['segtab']:,}"
                  f" + group directories {ip['groups']:,}; {r['columns']} column defs {ip['columns']:,};"
                  f" shapes {ip['shapes']:,})"),
                 f"parquet via {r['parquet_via']}"]
        if r["pyarrow_json_parquet_error"]:
            notes.append(f"pyarrow json: {r['pyarrow_json_parquet_error']}")
        elif r["pyarrow_json_parquet_mbs"]:
            notes.append(f"ours enc/pa {r['encode_mbs'] / r['pyarrow_json_parquet_mbs']:.2f}")
        if "engine_bytes" in r:
            notes.append(f"engine on disk {r['engine_bytes']:,} B (segments {r['engine_segment_bytes']:,}"
                         f" + index {r['engine_index_bytes']:,}; /min {r['engine_bytes'] / peer:.2f}),"
                         f" write {r['engine_write_mbs']:.1f} / read {r['engine_read_mbs']:.1f} MB/s")
        print(f"  {r['set']:<13} {'; '.join(flags)}; {'; '.join(notes)}")
