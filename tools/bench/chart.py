"""Draw bench.json as a PNG: one panel per metric, one bar group per peer, one bar per data set.

Only data sets of at least ``MIN_RECORDS`` records are drawn (the small simdjson sets are in
the JSON and the printed tables).  Log-scale y; the title says whether higher or lower is better.

    .venv/bin/python tools/bench/chart.py OUT/bench.json [OUT/bench.png]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

MIN_RECORDS = 10_000
PANELS = [  # key, title
    ("size_mb", "bytes on disk (MB) - lower better"),
    ("ingest_mbs", "ingest (MB/s JSON) - higher better"),
    ("get_pos_cold_p50", "get by position, cold p50 (ms) - lower"),
    ("get_key_cold_p50", "get by key, cold p50 (ms) - lower"),
    ("get_pos_warm_p50", "get by position, warm p50 (ms) - lower"),
    ("get_key_warm_p50", "get by key, warm p50 (ms) - lower"),
    ("take_rps", "take 10k random (records/s) - higher"),
    ("column_s", "one-column scan (s) - lower"),
    ("filter_s", "filtered scan, full records (s) - lower"),
]


def draw(result: dict, out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    sets = {k: v for k, v in result["datasets"].items() if v["records"] >= MIN_RECORDS}
    if not sets:
        sets = result["datasets"]
    peers: list[str] = []
    for d in sets.values():
        for r in d["peers"]:
            if r["peer"] not in peers:
                peers.append(r["peer"])
    fig, axes = plt.subplots(3, 3, figsize=(17, 12))
    width = 0.8 / max(1, len(sets))
    x = np.arange(len(peers))
    for ax, (key, title) in zip(axes.flat, PANELS):
        for j, (name, d) in enumerate(sets.items()):
            by = {r["peer"]: r for r in d["peers"]}
            vals = [by.get(p, {}).get(key, np.nan) for p in peers]
            bars = ax.bar(x + (j - (len(sets) - 1) / 2) * width, vals, width,
                          label=f"{name} ({d['records']:,} rec)")
            for b, p in zip(bars, peers):
                if p == "archive":
                    b.set_edgecolor("black")
                    b.set_linewidth(1.5)
        ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xticks(x)
        ax.set_xticklabels(peers, rotation=30, ha="right", fontsize=8)
        ax.grid(axis="y", which="both", alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    cfg = result.get("config", {})
    fig.suptitle(f"archive vs peers - {cfg.get('machine', '')}, {cfg.get('cpus', '?')} CPUs; "
                 f"cold = random records, no decoded cache; warm = {cfg.get('hot_set', '?')}-record hot set",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(out, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    src = Path(sys.argv[1])
    draw(json.loads(src.read_text()), Path(sys.argv[2]) if len(sys.argv) > 2 else src.with_suffix(".png"))
