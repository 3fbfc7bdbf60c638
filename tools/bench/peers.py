"""Peer adapters: the same operations on our engine and on each peer store.

Every adapter gets the JSON-lines bytes and keys of a data set (``ingest``, timed by the
caller, ends durable on disk), is then opened (``open(cold)``) and answers:
``get_pos(i)`` / ``get_key(k)`` -> one record as Python objects, ``take(positions)`` -> list
of records in the order asked, ``column(name)`` -> every record's value of one top-level
field (numpy/Arrow-backed array or list), ``filter(flt)`` -> list of matching full records.
How each peer does each operation is in its ``HOW`` (copied to bench.json and the README).
"""
from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import orjson

import archive


def disk_bytes(path: Path) -> int:
    """Bytes on disk of a file or directory tree (apparent file sizes)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def lookup(rec: Any, path: tuple[str, ...]) -> Any:
    for k in path:
        if not isinstance(rec, dict) or k not in rec:
            return None
        rec = rec[k]
    return rec


def py_match(rec: Any, flt: tuple) -> bool:
    path, op, val = flt
    v = lookup(rec, path)
    if v is None or isinstance(v, bool) != isinstance(val, bool):
        return False
    try:
        return v == val if op == "==" else v >= val
    except TypeError:
        return False


class Peer:
    name = "?"
    HOW: ClassVar[dict[str, str]] = {}

    def __init__(self, root: Path):
        self.root = root

    def ingest(self, lines: list[bytes], keys: list[str]) -> None: ...
    def open(self, cold: bool) -> None: ...
    def close(self) -> None: ...
    def before_cold_sample(self) -> None: ...

    def disk_bytes(self) -> int:
        return disk_bytes(self.root)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


# --- our engine ------------------------------------------------------------------------------
class Ours(Peer):
    name = "archive"
    HOW: ClassVar[dict[str, str]] = {"get_pos": "ar[i]", "get_key": "ar.get(key) (LMDB key index)",
           "take": "ar.take(positions)", "column": "ar.column((name,)) -> numpy",
           "filter": "list(ar.scan(where=...)) (pruning by chunk stats)",
           "cold": "open(cache_bytes=1) and the decoded-group cache dropped before each sample",
           "warm": "open() with the default cache_bytes (256 MiB)"}
    BATCH = 65536

    def ingest(self, lines, keys):
        with archive.open(self.root, "a") as ar:
            for a in range(0, len(lines), self.BATCH):
                ar.extend([orjson.loads(x) for x in lines[a:a + self.BATCH]], keys[a:a + self.BATCH])
            ar.commit()

    def extra(self):
        """Where our bytes are: segment files (column chunks) vs the LMDB index."""
        with archive.open(self.root) as ar:
            st = ar.stats()
        return {"segment_mb": st["segment_bytes"] / 1e6, "index_mb": st["index_bytes"] / 1e6}

    def open(self, cold):
        self.ar = archive.open(self.root, cache_bytes=1) if cold else archive.open(self.root)

    def before_cold_sample(self):
        drop = getattr(self.ar, "_drop_cache", None)
        if drop is not None:
            drop()

    def close(self):
        self.ar.close()

    def get_pos(self, i):
        return self.ar[i]

    def get_key(self, k):
        return self.ar.get(k)

    def take(self, pos):
        return self.ar.take(pos)

    def column(self, name):
        return self.ar.column((name,))

    def filter(self, flt):
        return list(self.ar.scan(where=where_ours(flt)))


def where_ours(flt: tuple) -> str:
    path, op, val = flt
    p = ".".join("`" + k.replace("`", "``") + "`" for k in path)
    return f"{p} {op} {orjson.dumps(val).decode()}"


# --- Arrow-based peers -----------------------------------------------------------------------
def arrow_table(lines: list[bytes], keys: list[str]):
    """JSON lines -> Arrow table with a ``_key`` column (pyarrow.json, else row-wise fallback)."""
    import pyarrow as pa
    import pyarrow.json as pj
    try:
        t = pj.read_json(io.BytesIO(b"\n".join(lines)),
                         read_options=pj.ReadOptions(block_size=64 << 20))
        if _has_timestamp(t.schema):  # pyarrow.json turns ISO strings into timestamps
            raise TypeError("timestamps inferred")
    except Exception:  # noqa: BLE001 - type drift between blocks: let Arrow unify row by row
        t = pa.Table.from_struct_array(pa.array([orjson.loads(x) for x in lines]))  # all rows' keys
    return t.append_column("_key", pa.array(keys, pa.string()))


def _has_timestamp(schema) -> bool:
    import pyarrow.types as pt

    def walk(t) -> bool:
        if pt.is_timestamp(t) or pt.is_date(t):
            return True
        return any(walk(t.field(i).type) for i in range(t.num_fields))
    return any(walk(f.type) for f in schema)


class Parquet(Peer):
    HOW: ClassVar[dict[str, str]] = {"get_pos": "ParquetFile.read_row_group(rg).slice(off, 1) (rg from metadata row counts)",
           "get_key": "pyarrow.dataset to_table(filter=_key == k) (row-group stats + row filter)",
           "take": "read_row_groups(needed groups) then Table.take",
           "column": "ParquetFile.read(columns=[name]) -> numpy",
           "filter": "pyarrow.dataset to_table(filter=expr).to_pylist()",
           "cold": "same handles; pyarrow has no decoded-data cache", "warm": "same handles",
           "note": "parquet: pyarrow defaults (snappy, 1Mi-row groups); parquet-rg1000: 1000-row "
           "groups + write_page_index=True (pyarrow reads whole row groups, it does not use the "
           "page index for row access)"}

    def __init__(self, root, row_group_size=None, page_index=False):
        super().__init__(root)
        self.rgs, self.page_index = row_group_size, page_index
        self.name = "parquet" if row_group_size is None else f"parquet-rg{row_group_size}"
        self.file = root / "data.parquet"

    def ingest(self, lines, keys):
        import pyarrow.parquet as pq
        self.root.mkdir(parents=True, exist_ok=True)
        pq.write_table(arrow_table(lines, keys), self.file, row_group_size=self.rgs,
                       write_page_index=self.page_index)
        fsync(self.file)

    def open(self, cold):
        import pyarrow.dataset as pds
        import pyarrow.parquet as pq
        self.pf = pq.ParquetFile(self.file)
        md = self.pf.metadata
        self.starts = np.cumsum([0] + [md.row_group(g).num_rows for g in range(md.num_row_groups)])
        self.ds = pds.dataset(self.file, format="parquet")

    def close(self):
        self.pf.close()

    def get_pos(self, i):
        g = int(np.searchsorted(self.starts, i, side="right")) - 1
        return self.pf.read_row_group(g).slice(i - int(self.starts[g]), 1).to_pylist()[0]

    def get_key(self, k):
        import pyarrow.compute as pc
        return self.ds.to_table(filter=pc.field("_key") == k).to_pylist()[0]

    def take(self, pos):
        pos = np.asarray(pos)
        g = np.searchsorted(self.starts, pos, side="right") - 1
        groups = np.unique(g)
        base = np.zeros(len(self.starts), np.int64)
        sizes = np.diff(self.starts)[groups]
        base[groups] = np.cumsum(np.r_[0, sizes[:-1]])
        t = self.pf.read_row_groups(groups.tolist())
        return t.take(base[g] + pos - self.starts[g]).to_pylist()

    def column(self, name):
        return self.pf.read(columns=[name]).column(0).to_numpy()

    def filter(self, flt):
        import pyarrow.compute as pc
        path, op, val = flt
        f = pc.field(*path)
        return self.ds.to_table(filter=(f == val) if op == "==" else (f >= val)).to_pylist()


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _lance_name(c: str) -> str:
    return c.replace(".", "_")


class Lance(Peer):
    name = "lance"
    HOW: ClassVar[dict[str, str]] = {"get_pos": "ds.take([i])", "get_key": "ds.to_table(filter=\"_key = 'k'\") via BTREE "
           "scalar index (create_scalar_index, built during ingest)",
           "take": "ds.take(positions)", "column": "ds.to_table(columns=[name]) -> numpy",
           "filter": "ds.to_table(filter=sql).to_pylist()",
           "cold": "same dataset handle (Lance keeps its own metadata/index caches)",
           "warm": "same handle", "note": "Lance forbids '.' in top-level names: renamed to '_' "
           "on write and back on read"}

    def ingest(self, lines, keys):
        import lance
        t = arrow_table(lines, keys)
        self.back = {_lance_name(c): c for c in t.column_names if _lance_name(c) != c}
        t = t.rename_columns([_lance_name(c) for c in t.column_names])
        ds = lance.write_dataset(t, str(self.root))
        ds.create_scalar_index("_key", "BTREE")

    def open(self, cold):
        import lance
        self.ds = lance.dataset(str(self.root))

    def close(self):
        self.ds = None

    def _unrename(self, recs):
        if not self.back:
            return recs
        b = self.back
        return [{b.get(k, k): v for k, v in r.items()} for r in recs]

    def get_pos(self, i):
        return self._unrename(self.ds.take([i]).to_pylist())[0]

    def get_key(self, k):
        k = k.replace("'", "''")
        return self._unrename(self.ds.to_table(filter=f"_key = '{k}'").to_pylist())[0]

    def take(self, pos):
        return self._unrename(self.ds.take(np.asarray(pos)).to_pylist())

    def column(self, name):
        return self.ds.to_table(columns=[_lance_name(name)]).column(0).to_numpy()

    def filter(self, flt):
        path, op, val = flt
        p = ".".join("`" + (_lance_name(k) if j == 0 else k) + "`" for j, k in enumerate(path))
        lit = "'" + val.replace("'", "''") + "'" if isinstance(val, str) else repr(val)
        return self._unrename(self.ds.to_table(filter=f"{p} {op.replace('==', '=')} {lit}").to_pylist())


def make(root: Path, names: list[str]) -> list[Peer]:
    from rowstores import JsonlZstd, LmdbZstd, SQLite
    table = {"archive": lambda: Ours(root / "archive"),
             "parquet": lambda: Parquet(root / "parquet"),
             "parquet-rg1000": lambda: Parquet(root / "parquet-rg1000", 1000, page_index=True),
             "lance": lambda: Lance(root / "lance"), "sqlite": lambda: SQLite(root / "sqlite"),
             "lmdb-zstd": lambda: LmdbZstd(root / "lmdb-zstd"),
             "jsonl-zstd19": lambda: JsonlZstd(root / "jsonl-zstd19")}
    return [table[n]() for n in names]


ALL = ["archive", "parquet", "parquet-rg1000", "lance", "sqlite", "lmdb-zstd", "jsonl-zstd19"]
