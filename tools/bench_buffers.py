"""Benchmark archive.buffers on many mapped files.

Creates ``--files`` segment files of ``--segments`` segments each in a temporary directory,
then measures (best of ``--repeat``):

* build: mapping every file with ``BufferWithSegments.from_file`` (segment tables validated)
  plus building the ``BufferWithSegmentsCollection`` - file creation excluded;
* lookups: random ``c[i]`` per second over the whole collection;
* bytes: random ``bytes(c[i])`` per second.

Usage: ``.venv/bin/python tools/bench_buffers.py [--files N] [--segments N] [--json OUT]``.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archive.buffers import BufferWithSegments, BufferWithSegmentsCollection  # noqa: E402

BUILD_TARGET_MS = 50.0
LOOKUP_TARGET = 500_000.0


def make_files(root: Path, files: int, segments: int, slot: int,
               rng: np.random.Generator) -> list[tuple[Path, np.ndarray]]:
    """Write the files; segment ``k`` of a file sits in slot ``k`` with a random length."""
    made = []
    for f in range(files):
        path = root / f"seg{f:05d}.bin"
        path.write_bytes(rng.integers(0, 256, segments * slot, dtype=np.uint8).tobytes())
        table = np.empty((segments, 2), dtype=np.uint64)
        table[:, 0] = np.arange(segments, dtype=np.uint64) * slot
        table[:, 1] = rng.integers(0, slot + 1, segments, dtype=np.uint64)
        made.append((path, table))
    return made


def build(made: list[tuple[Path, np.ndarray]]) -> BufferWithSegmentsCollection:
    return BufferWithSegmentsCollection(
        *[BufferWithSegments.from_file(path, table) for path, table in made])


def best_of(repeat: int, fn) -> float:  # type: ignore[no-untyped-def]
    """Smallest wall time of ``repeat`` calls of ``fn``, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def time_lookups(collection: BufferWithSegmentsCollection, indexes: list[int],
                 repeat: int) -> tuple[float, float]:
    """Best seconds for ``c[i]`` over ``indexes``, then for ``bytes(c[i])``."""

    def lookups() -> None:
        for i in indexes:
            collection[i]

    def copies() -> None:
        for i in indexes:
            bytes(collection[i])

    return best_of(repeat, lookups), best_of(repeat, copies)


def run(args: argparse.Namespace) -> dict[str, float]:
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        made = make_files(Path(tmp), args.files, args.segments, args.slot, rng)
        build_s = best_of(args.repeat, lambda: build(made))
        total = args.files * args.segments
        indexes = rng.integers(-total, total, args.lookups).tolist()
        lookup_s, bytes_s = time_lookups(build(made), indexes, args.repeat)
    return {
        "files": args.files,
        "segments_per_file": args.segments,
        "build_ms": build_s * 1e3,
        "lookups_per_s": args.lookups / lookup_s,
        "bytes_per_s": args.lookups / bytes_s,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--segments", type=int, default=1000, help="segments per file")
    parser.add_argument("--slot", type=int, default=64, help="bytes reserved per segment")
    parser.add_argument("--lookups", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    result = run(args)
    rows = [
        ("build collection (ms)", f"{result['build_ms']:.1f}", f"<= {BUILD_TARGET_MS:.0f}",
         result["build_ms"] <= BUILD_TARGET_MS),
        ("random c[i] (/s)", f"{result['lookups_per_s']:,.0f}", f">= {LOOKUP_TARGET:,.0f}",
         result["lookups_per_s"] >= LOOKUP_TARGET),
        ("random bytes(c[i]) (/s)", f"{result['bytes_per_s']:,.0f}", "-", True),
    ]
    print(f"{args.files} files x {args.segments} segments, best of {args.repeat}")
    print(f"{'metric':<26}{'value':>14}{'target':>14}  ok")
    for name, value, target, ok in rows:
        print(f"{name:<26}{value:>14}{target:>14}  {'yes' if ok else 'NO'}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
