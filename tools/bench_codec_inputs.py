"""What ``tools/bench_codec.py`` measures against: the data sets, exploded into records
(``SETS``, loaded from ``--data``, default ``DEFAULT_DATA``), their JSON-lines form (the
reference size of every MB/s figure) and the Parquet / pyarrow peers.

The sets and how each peer is built are documented in ``tools/bench_codec.py``.
"""
from __future__ import annotations

import gzip
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
#: Speeds are CPU seconds of this process (all its threads): the machine is shared, and wall
#: time under load measures the neighbours.  Everything timed here runs on one thread.
CLOCK = time.process_time


# --------------------------------------------------------------------------- data sets


def _load(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


def _zeek(d: Path) -> list:
    with gzip.open(d / "zeek" / "dns.json.gz") as f:
        return [orjson.loads(line) for line in f.read().splitlines() if line.strip()]


def _canada_rings(d: Path) -> list:
    doc = _load(d / "simdjson" / "canada.json")
    return [{"ring": ring} for f in doc["features"] for ring in f["geometry"]["coordinates"]]


SETS: dict[str, Callable[[Path], list]] = {
    "zeek-dns": _zeek,
    "twitter": lambda d: _load(d / "simdjson" / "twitter.json")["statuses"],
    "gsoc-2018": lambda d: list(_load(d / "simdjson" / "gsoc-2018.json").values()),
    "citm-events": lambda d: list(_load(d / "simdjson" / "citm_catalog.json")["events"].values()),
    "citm-perf": lambda d: _load(d / "simdjson" / "citm_catalog.json")["performances"],
    "canada": lambda d: _load(d / "simdjson" / "canada.json")["features"],
    "canada-doc": lambda d: [_load(d / "simdjson" / "canada.json")],
    "canada-rings": _canada_rings,
}


def json_lines(records: list) -> bytes:
    return b"\n".join(map(orjson.dumps, records))


# --------------------------------------------------------------------------- peers


def parquet_table(records: list) -> tuple[Any, str]:
    """An Arrow table of the records and how it was built (see the module docstring)."""
    import pyarrow as pa  # type: ignore[import-untyped]

    keys: dict[str, None] = {}
    dicts = all(isinstance(r, dict) for r in records)
    if not dicts:
        records = [{"value": r} for r in records]
    for r in records:
        keys.update(dict.fromkeys(r))
    try:
        t = pa.Table.from_pylist(records)
        if list(t.schema.names) == list(keys):
            return t, "from_pylist"
        note = f"from_pylist saw {len(t.schema.names)}/{len(keys)} keys; column-wise union"
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as e:
        note = f"from_pylist failed ({type(e).__name__}); column-wise union"
    arrays, texted = {}, []
    for k in keys:
        vals = [r.get(k) for r in records]
        try:
            arrays[k] = pa.array(vals)
            _probe_parquet(arrays[k])
        except Exception:  # noqa: BLE001  (any typing/writing failure -> JSON text)
            arrays[k] = pa.array([None if v is None else orjson.dumps(v).decode() for v in vals])
            texted.append(k)
    if texted:
        note += f"; JSON text for {len(texted)} mixed/unwritable keys ({', '.join(texted[:4])}" \
                f"{'...' if len(texted) > 4 else ''})"
    if not dicts:
        note = "records wrapped as {value: r}; " + note
    return pa.table(arrays), note


def _probe_parquet(arr: Any) -> None:
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    pq.write_table(pa.table({"x": arr.slice(0, 64)}), io.BytesIO())


def parquet_bytes(table: Any, level: int | None = None) -> bytes:
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", compression_level=level)
    return buf.getvalue()


def pyarrow_json_to_parquet(data: bytes, repeat: int) -> tuple[float | None, int | None, str]:
    """Best time of read_json (single thread) + write_table(zstd), its size, or the error."""
    import pyarrow.json as pj  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    longest = max(map(len, data.split(b"\n")))
    ropts = pj.ReadOptions(use_threads=False, block_size=max(1 << 20, 2 * longest + 1))
    best, size = None, None
    for _ in range(repeat):
        try:
            t0 = CLOCK()
            table = pj.read_json(io.BytesIO(data), read_options=ropts)
            buf = io.BytesIO()
            pq.write_table(table, buf, compression="zstd")
            dt = CLOCK() - t0
        except Exception as e:  # noqa: BLE001
            return None, None, f"{type(e).__name__}: {str(e)[:80]}"
        best = dt if best is None else min(best, dt)
        size = len(buf.getvalue())
    return best, size, ""
