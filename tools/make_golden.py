"""Write tests/golden/: one chunk per registered encoding, forced, with its expected values,
and ``bundle.bin``: a bundle (:mod:`archive.storage.bundles`) of three of those chunks.

Run it only when adding an encoding (existing files must never change: that is the point of
them). ``--force`` rewrites existing files too; without it only missing ones are written.
"""
from __future__ import annotations

import argparse
import base64
import json
import struct
from pathlib import Path

import numpy as np

import archive.codec  # noqa: F401  (registers every encoding)
from archive.codec.chunk import ChunkEncoder
from archive.codec.registry import DTYPES, encode_values, registered
from archive.storage.bundles import pack_bundle

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "golden"
#: the golden chunks bundle.bin holds, in this order
BUNDLE_MEMBERS = ("006-int-rle-int", "048-bool-packed-bool", "066-str-const-str")


def _lines() -> list[str]:
    out = []
    for i in range(300):
        out.append(f"2024-05-0{1 + i % 9} 12:{i % 60:02d}:{(i * 7) % 60:02d},{i % 1000:03d} INFO "
                   f"dfs.DataNode: Receiving block blk_{1000 + i * 37} src: /10.250.{i % 20}.{i % 250}:50010")
        out.append(f"session opened for user user{i % 5} by (uid={i % 3})")
    return out


def candidates(kind: str) -> list[list]:
    """Inputs of each kind; every encoding applies to at least one of them."""
    n = 600
    if kind == "int":
        return [[i * 3 for i in range(n)], [7] * n, [(i % 5) * 1000 for i in range(n)],
                [1_600_000_000_000 + i * 1000 + (i % 7) for i in range(n)],
                [((i * 2654435761) % 2**61) - 2**60 for i in range(n)], [i % 3 - 1 for i in range(n)],
                [0] * 300 + [5] * 300]
    if kind == "float":
        return [[i / 4 for i in range(n)], [float(i % 9) for i in range(n)], [2.5] * n,
                [1_331_901_000.0 + i * 0.000123 for i in range(n)],
                [((i * 2654435761) % 10007) * 1.0000001e-3 for i in range(n)],
                [float("nan"), -0.0, float("inf")] * 200, [1e300 * (i % 3) for i in range(n)]]
    if kind == "bool":
        return [[i % 3 == 0 for i in range(n)], [False] * 590 + [True] * 10]
    texts = [
        [f"2018-03-24T17:15:{i % 60:02d}.{i * 1000 % 999999:06d}Z" for i in range(n)],
        [f"10.{i % 7}.{i % 250}.{(i * 13) % 250}" for i in range(n)],
        [f"{i:08x}-1234-4abc-8def-{i * 7919:012x}" for i in range(n)],
        [f"{(i * 2654435761) % 2**40:010x}" for i in range(n)],
        [str(i * 37 - 500) for i in range(n)],
        ["GET", "POST", "PUT"] * 200, ["constant"] * n,
        [f"fe80::{i % 200:x}:1" for i in range(n)],
        _lines()[:n],
        [f"free text number {i} with word{i % 17} and more {i * i}" for i in range(n)],
        [f"12:{i % 60:02d}:{(i * 7) % 60:02d}" for i in range(n)],
    ]
    if kind == "str":
        return texts
    return [[s.encode() for s in t] for t in texts] + [[bytes([i % 256, 0, 255]) for i in range(n)]]


def _coordinates(n: int) -> list[float]:
    """x, y pairs of 6-decimal coordinates a few ULPs off, with NaN, -0.0 and inf mixed in."""
    out = []
    for i in range(n // 2):
        x, y = -65.613617 + i * 0.000731, 43.420273 - i * 0.000419
        out += [float(np.nextafter(x, 0.0)) if i % 3 else x, y]
    out[10], out[11], out[12] = float("nan"), -0.0, float("inf")
    return out


#: Encodings that must be shown an input of their own (the first input of their kind that
#: they accept would not exercise what they are for).
PREFERRED = {40: _coordinates}


def dump_values(kind: str, values: np.ndarray) -> list:
    if kind == "float":
        return [struct.pack("<d", v).hex() for v in values.tolist()]
    if kind == "bytes":
        return [base64.b64encode(v).decode() for v in values.tolist()]
    return values.tolist()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    GOLDEN.mkdir(parents=True, exist_ok=True)
    enc = ChunkEncoder(level=3)
    for e in registered():
        for kind in sorted(e.kinds):
            stem = GOLDEN / f"{e.codec_id:03d}-{e.name}-{kind}"
            if stem.with_suffix(".chunk").exists() and not args.force:
                continue
            pref = PREFERRED.get(e.codec_id)
            for cand in ([pref(600)] if pref else []) + candidates(kind):
                arr = np.empty(len(cand), dtype=DTYPES[kind])
                arr[:] = cand
                try:
                    encode_values(kind, arr, only=(e.codec_id,))
                except ValueError:
                    continue
                break
            else:
                print(f"no candidate input for {e.name} ({kind}); add one to candidates()")
                return 1
            data = enc.encode(kind, arr, only=(e.codec_id,)).data  # sub-columns pick freely
            stem.with_suffix(".chunk").write_bytes(data)
            stem.with_suffix(".json").write_text(json.dumps({"kind": kind, "codec_id": e.codec_id,
                                                             "values": dump_values(kind, arr)}))
            print(f"wrote {stem.name}")
    bundle = GOLDEN / "bundle.bin"
    if not bundle.exists() or args.force:
        bundle.write_bytes(pack_bundle([(GOLDEN / f"{m}.chunk").read_bytes() for m in BUNDLE_MEMBERS], 3))
        print(f"wrote {bundle.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
