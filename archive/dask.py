"""Dask over many archives: one partition per run of groups, read by workers from shared storage.

Needs ``dask[dataframe]`` (and ``distributed`` for a cluster) and ``pyarrow``; the core
engine never imports this module.  ::

    import archive.dask
    df = archive.dask.read_archive("/mnt/logs/dns/2024-*", columns=["query", "rtt"],
                                   where='qtype_name == "AAAA"')
    df.groupby("query").rtt.mean().compute()          # on a dask.distributed Client
    bag = archive.dask.read_archive_bag("/mnt/logs/dns/2024-*", where="rcode != 0")

Planning reads only the archives' LMDB indexes (each archive is opened read-only once on the
client): group row counts give runs of whole groups of about ``partition_rows`` records, one
partition each, and the column lists give one Arrow schema for all archives (see
:mod:`archive.arrow`), from which ``meta`` follows without reading any data.  A task is a
small picklable :class:`Part` of plain values (absolute path, group range, the range's first
row and row count): the worker opens the archive read-only itself, reads those groups
(statistics pruning and the vectorized ``where`` run there), closes it, and returns a pandas
DataFrame (``read_archive``) or a list of records (``read_archive_bag``).  A task raises
:class:`~archive.ArchiveError` if its archive no longer has the planned group layout
(compacted in between); appends after planning are simply not seen.

pandas dtypes: ``int64`` → ``Int64``, ``bool`` → ``boolean``, ``string`` (and the JSON-text
fallback) → ``string[pyarrow]``, ``float64`` → ``float64`` (NaN for null); lists, structs,
binary and all-null fields → ``object``.  Partitions have a 0-based index each, divisions are
unknown, and partition lengths are only known once read (deleted records and ``where``).
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import dask
import dask.bag as db
import dask.dataframe as dd
import pandas as pd
import pyarrow as pa

from archive.arrow import Catalog, archive_batches
from archive.engine.archive import Archive
from archive.engine.many import expand_paths, scan_range
from archive.errors import ArchiveError
from archive.query import parse

#: Default partition size, in records (whole groups; a group is never split).
PARTITION_ROWS = 262_144


class Part(NamedTuple):
    """One task: groups ``g0..g1-1`` of the archive at ``path``, planned as rows
    ``first_row..first_row+rows-1`` (checked when the task opens the archive)."""

    path: str
    g0: int
    g1: int
    first_row: int
    rows: int


def _plan_one(path: str, partition_rows: int) -> tuple[list[Part], list]:
    with open_readonly(path) as ar:
        v = ar._view
        first, rows = v.group_first.tolist(), v.group_rows.tolist()
        columns = list(v.columns)
    parts, g0, acc = [], 0, 0
    for g, n in enumerate(rows):
        if acc and acc + n > partition_rows:
            parts.append(Part(path, g0, g, first[g0], acc))
            g0, acc = g, 0
        acc += n
    if acc:
        parts.append(Part(path, g0, len(rows), first[g0], acc))
    return parts, columns


def plan(paths_or_glob: str | os.PathLike | Iterable[str | os.PathLike],
         columns: Iterable[str | tuple] | None = None,
         partition_rows: int = PARTITION_ROWS, threads: int = 8) -> tuple[list[Part], pa.Schema]:
    """The partitions and the Arrow schema of a read, from the archives' indexes alone."""
    if partition_rows < 1:
        raise ValueError("partition_rows must be at least 1")
    paths = [os.path.abspath(p) for p in expand_paths(paths_or_glob)]
    with ThreadPoolExecutor(max(1, min(threads, len(paths)))) as pool:
        planned = list(pool.map(lambda p: _plan_one(p, partition_rows), paths))
    cat = Catalog()
    parts: list[Part] = []
    for ps, cols in planned:
        parts.extend(ps)
        cat.add(cols)
    return parts, cat.schema(None if columns is None else list(columns))


@contextlib.contextmanager
def open_readonly(path: str) -> Iterator[Archive]:
    """Open ``path`` read-only for one task, closing it after.  Tasks of one process (a
    worker's threads, the threaded scheduler) may read one archive at once: its handles share
    one LMDB environment (see archive.index.store)."""
    with Archive(path, "r") as ar:
        yield ar


def _check_layout(ar: Archive, part: Part) -> None:
    v = ar._view
    ok = (part.g1 <= len(v.group_first) and int(v.group_first[part.g0]) == part.first_row
          and int(v.group_rows[part.g0:part.g1].sum()) == part.rows)
    if not ok:
        raise ArchiveError(f"{part.path}: groups {part.g0}..{part.g1 - 1} no longer hold rows "
                           f"{part.first_row}..{part.first_row + part.rows - 1} (compacted since planning?)")


def read_part_table(part: Part, schema: pa.Schema, columns: list | None = None,
                    where: str | None = None) -> pa.Table:
    """What a task reads: ``part``'s matching records as an Arrow table of ``schema``."""
    with open_readonly(part.path) as ar:
        _check_layout(ar, part)
        batches = list(archive_batches(ar, schema, columns, where, None, part.g0, part.g1))
    return pa.Table.from_batches(batches, schema=schema)


def read_part_records(part: Part, columns: list | None = None, where: str | None = None) -> list:
    """What a bag task reads: ``part``'s matching (projected) records."""
    with open_readonly(part.path) as ar:
        _check_layout(ar, part)
        return list(scan_range(ar, columns, where, part.g0, part.g1))


def pandas_type(t: pa.DataType) -> Any:
    """The pandas dtype of an Arrow field in ``read_archive`` frames (None: pyarrow's default)."""
    if t == pa.int64():
        return pd.Int64Dtype()
    if t == pa.bool_():
        return pd.BooleanDtype()
    if t == pa.string():
        return pd.StringDtype("pyarrow")
    return None


def to_pandas(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(types_mapper=pandas_type)


class _ReadFrame:
    """The picklable task function of ``read_archive`` (one call per :class:`Part`)."""

    def __init__(self, schema: pa.Schema, columns: list | None, where: str | None) -> None:
        self.schema, self.columns, self.where = schema, columns, where

    def __call__(self, part: Part) -> pd.DataFrame:
        return to_pandas(read_part_table(part, self.schema, self.columns, self.where))

    def __dask_tokenize__(self) -> Any:
        return ("archive.dask.read", self.schema.to_string(show_field_metadata=True),
                repr(self.columns), self.where)


def read_archive(paths_or_glob: str | os.PathLike | Iterable[str | os.PathLike],
                 columns: Iterable[str | tuple] | None = None, where: str | None = None, *,
                 partition_rows: int = PARTITION_ROWS, schema: pa.Schema | None = None) -> dd.DataFrame:
    """A ``dask.dataframe`` over many archives (see the module docstring).

    ``paths_or_glob``: a glob (sorted), a path, or an iterable of paths/globs on storage every
    worker sees under the same name.  ``columns``/``where``: as ``Archive.scan``, run on the
    workers.  ``partition_rows``: records per partition (whole groups).  ``schema``: force an
    Arrow schema instead of the one inferred from the indexes.
    """
    columns = None if columns is None else list(columns)
    if where is not None:
        parse(where)
    parts, inferred = plan(paths_or_glob, columns, partition_rows)
    schema = inferred if schema is None else schema
    meta = to_pandas(schema.empty_table())
    if not parts:
        return dd.from_pandas(meta, npartitions=1)
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_map(_ReadFrame(schema, columns, where), parts, meta=meta,
                           label="read-archive", enforce_metadata=False)


def read_archive_bag(paths_or_glob: str | os.PathLike | Iterable[str | os.PathLike],
                     columns: Iterable[str | tuple] | None = None, where: str | None = None, *,
                     partition_rows: int = PARTITION_ROWS) -> db.Bag:
    """A ``dask.bag`` of the (projected, filtered) records, one partition per group run."""
    columns = None if columns is None else list(columns)
    if where is not None:
        parse(where)
    parts, _ = plan(paths_or_glob, columns, partition_rows)
    if not parts:
        return db.from_sequence([], npartitions=1)
    tasks = [dask.delayed(read_part_records, pure=True)(p, columns, where) for p in parts]
    return db.from_delayed(tasks)


__all__ = ["PARTITION_ROWS", "Part", "plan", "read_archive", "read_archive_bag",
           "read_part_records", "read_part_table"]
