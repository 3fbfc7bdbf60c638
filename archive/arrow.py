"""Arrow out: an archive (or several) as a stream of ``pyarrow.RecordBatch``.

``to_arrow(ar, columns=None, where=None, batch_rows=None)`` returns a
``pyarrow.RecordBatchReader`` that DuckDB, Polars, pandas or anything speaking the Arrow C
stream consumes directly::

    reader = archive.arrow.to_arrow(ar, ["query", "rtt"], where='qtype_name == "AAAA"')
    duckdb.sql("select query, avg(rtt) from reader group by query")

Records come in position order, exactly those ``ar.scan(columns, where)`` yields (the group
walk, statistics pruning and ``where`` evaluation are the scan's own).  One batch per group
(default ``group_rows`` = 16384 records) holding the group's matching records, or slices of at
most ``batch_rows`` records; groups with no match give no batch.  The archive must stay open
while the reader is consumed.

Schema
------
Fixed for the whole stream and known before any data is read: it is inferred from the
archive's *columns* (the index lists every ``(path, slot)`` ever written), never from values.
Each node (path) maps by the value slots it ever had (``null`` has no slot: it only makes the
field nullable; every Arrow field is nullable, and an absent path is null too):

==========================  ========================================================
slots of the node           Arrow type
==========================  ========================================================
``int``                     ``int64``
``float``                   ``float64``
``int`` + ``float``         ``float64`` (ints promoted; exact up to 2**53)
``bool``                    ``bool``
``str``                     ``string``
``bytes``                   ``binary``
``shape`` (dicts)           ``struct<key: ...>`` in first-seen key order
``len`` (lists)             ``list<item type>`` (``list<null>`` if every list is empty)
none (only nulls)           ``null``
anything else (mixed)       ``string`` holding JSON text, field metadata
                            ``{"archive.json": "1"}``
==========================  ========================================================

*Mixed-type fallback*: a node that held several kinds of value (say ``str`` and ``int``, or a
dict in some records and a list in others), or ints beyond int64 (``big``), becomes a
``string`` column of each value's JSON text (``"1"``, ``"\\"a\\""``, ``"{\\"k\\": [1]}"``;
bytes inside as base64 text; NaN/inf as ``null``).  Chosen over a dense union because
DuckDB, Polars and pandas all read strings, and DuckDB's ``json`` functions query the text.
JSON null and absent both become Arrow null.

Top-level fields are the root dict's keys.  If some records are not dicts (and no
``columns`` are given) the schema is one field ``_value`` of the root node's type; otherwise a
null record is a row of nulls.
``columns`` projects like ``scan``: ``"a.b"`` keeps ``a: struct<b>``; a projected path no
record has becomes a ``null`` field.  Pass ``schema=`` (e.g. one inferred over several
archives by :func:`infer_schema`) to stream many archives under one schema.

Conversion is vectorized per top-level field: int/float/bool values come straight from the
decoded numpy columns (``GroupReader.path_values_at``); strings and nested values go
through Python objects into ``pyarrow.array``.
"""
from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow as pa

from archive.codec.assemble import projection_tree
from archive.codec.shred import ITEM
from archive.engine.housekeeping import parse_path
from archive.engine.many import (
    ManyArchives,
    Selection,
    select_groups,
    selection_records,
)
from archive.query import MISSING, parse

if TYPE_CHECKING:
    from archive.engine.archive import Archive

#: Field metadata marking a mixed-type node's JSON-text column.
JSON_META = {b"archive.json": b"1"}
#: Name of the single field when records are not all dicts.
VALUE_FIELD = "_value"
_ROOT_META = b"archive.root"
_SCALARS = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "str": pa.string(),
            "bytes": pa.binary()}


# --- schema ------------------------------------------------------------------------------------
class Catalog:
    """Node -> value slots, and each node's children in first-seen order (several archives merge)."""

    def __init__(self) -> None:
        self.slots: dict[tuple, dict[str, None]] = {}
        self.children: dict[tuple, dict[Any, None]] = {}

    def add(self, columns: Iterable[tuple[tuple, str]]) -> Catalog:
        for path, slot in columns:
            path = tuple(path)
            for i in range(len(path) + 1):
                self.slots.setdefault(path[:i], {})
                if i:
                    self.children.setdefault(path[:i - 1], {})[path[i - 1]] = None
            if slot != "tag":
                self.slots[path][slot] = None
        return self

    def node_type(self, path: tuple, proj: dict | None = None) -> tuple[pa.DataType, bool]:
        """(Arrow type, is JSON fallback) of the node at ``path``, under projection ``proj``."""
        slots = set(self.slots.get(path, ()))
        if proj is not None:
            # Projecting inside a node keeps only dicts (projected) and lists (of projected
            # items); scalars project away (absent), so only the containers decide the type.
            containers = slots & {"shape", "len"}
            if containers == {"len"}:
                t, js = self.node_type(path + (ITEM,), proj)
                return pa.list_(pa.field("item", t, metadata=JSON_META if js else None)), False
            if containers == {"shape", "len"}:
                return pa.string(), True
            return self._struct(path, proj), False
        if not slots:
            return pa.null(), False
        if slots == {"int", "float"}:
            return pa.float64(), False
        if len(slots) > 1:
            return pa.string(), True
        (slot,) = slots
        if slot in _SCALARS:
            return _SCALARS[slot], False
        if slot == "len":
            t, js = self.node_type(path + (ITEM,))
            return pa.list_(pa.field("item", t, metadata=JSON_META if js else None)), False
        if slot == "shape":
            return self._struct(path, None), False
        return pa.string(), True  # big ints

    def fields(self, path: tuple, proj: dict | None) -> list[pa.Field]:
        keys = [k for k in self.children.get(path, {}) if isinstance(k, str)]
        if proj is not None:
            keys = list(proj)
        out = []
        for k in keys:
            t, js = self.node_type(path + (k,), None if proj is None else proj[k])
            out.append(pa.field(k, t, metadata=JSON_META if js else None))
        return out

    def _struct(self, path: tuple, proj: dict | None) -> pa.DataType:
        return pa.struct(self.fields(path, proj))

    def schema(self, columns: Iterable[str | tuple] | None = None) -> pa.Schema:
        if columns is not None:
            return pa.schema(self.fields((), ordered_projection(columns)))
        root = set(self.slots.get((), ()))
        if root <= {"shape"}:
            return pa.schema(self.fields((), None))
        t, js = self.node_type(())
        return pa.schema([pa.field(VALUE_FIELD, t, metadata=JSON_META if js else None)],
                         metadata={_ROOT_META: b"value"})


def ordered_projection(columns: Iterable[str | tuple]) -> dict:
    """``scan``'s projection tree of ``columns``, keys in the order the columns name them."""
    paths = [parse_path(c) for c in columns]
    tree = projection_tree(paths)
    rank: dict[tuple, int] = {}
    for p in paths:
        for i in range(1, len(p) + 1):
            rank.setdefault(p[:i], len(rank))

    def order(node: dict | None, prefix: tuple) -> dict | None:
        if node is None:
            return None
        keys = sorted(node, key=lambda k: rank[prefix + (k,)])
        return {k: order(node[k], prefix + (k,)) for k in keys}

    return order(tree, ()) or {}


def _members(source: Archive | ManyArchives) -> list[Archive]:
    return list(source.archives) if isinstance(source, ManyArchives) else [source]


def infer_schema(source: Archive | ManyArchives | Iterable[Archive],
                 columns: Iterable[str | tuple] | None = None) -> pa.Schema:
    """The Arrow schema of ``to_arrow(source, columns)``, from the index alone (no data read)."""
    archives = list(source) if isinstance(source, (list, tuple)) else _members(source)  # type: ignore[arg-type]
    cat = Catalog()
    for ar in archives:
        ar._check_open()
        cat.add(ar._view.columns)
        if ar._writer is not None:  # a writer's records not yet flushed into a group
            cat.add(ar._writer.p.columns.keys())
    return cat.schema(None if columns is None else list(columns))


def is_json(field: pa.Field) -> bool:
    return bool(field.metadata) and field.metadata.get(b"archive.json") == b"1"


# --- values -> arrays --------------------------------------------------------------------------
def _json_default(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(v)).decode("ascii")
    raise TypeError(f"{type(v).__name__} is not JSON serializable")


def _bigsafe(v: Any) -> Any:
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return None
    if isinstance(v, dict):
        return {k: _bigsafe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_bigsafe(x) for x in v]
    return v


def to_json_text(v: Any) -> str | None:
    """The JSON text of a value (None stays None)."""
    if v is None or v is MISSING:
        return None
    try:
        return orjson.dumps(v, default=_json_default).decode()
    except (TypeError, orjson.JSONEncodeError):  # ints beyond 64 bits
        return json.dumps(_bigsafe(v), default=_json_default, ensure_ascii=False, separators=(",", ":"))


def _needs_conform(t: pa.DataType) -> bool:
    if pa.types.is_struct(t):
        return any(is_json(t.field(i)) or _needs_conform(t.field(i).type) for i in range(t.num_fields))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return is_json(t.value_field) or _needs_conform(t.value_type)
    return False


def _conform(v: Any, field: pa.Field) -> Any:
    """A Python value shaped for ``field``'s type (JSON text where the schema says so)."""
    if v is None or v is MISSING:
        return None
    if is_json(field):
        return to_json_text(v)
    t = field.type
    if pa.types.is_struct(t):
        if not isinstance(v, dict):
            return None
        return {t.field(i).name: _conform(v.get(t.field(i).name), t.field(i)) for i in range(t.num_fields)}
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        if not isinstance(v, list):
            return None
        vf = t.value_field
        return [_conform(x, vf) for x in v]
    return v


def values_to_array(values: Any, field: pa.Field) -> pa.Array:
    """An Arrow array of ``field``'s type from a typed numpy array or Python values."""
    t = field.type
    if isinstance(values, np.ndarray) and values.dtype != object:
        if is_json(field):
            values = values.tolist()
        elif pa.types.is_null(t):
            return pa.nulls(len(values))
        else:
            return pa.array(values, type=t)
    elif isinstance(values, np.ndarray):
        missing = np.asarray(values == MISSING, dtype=bool)  # C loop: identity for these types
        if missing.any():
            values = values.copy()
            values[missing] = None
        if not (is_json(field) or _needs_conform(t) or pa.types.is_null(t)):
            return pa.array(values, type=t)
        values = values.tolist()
    else:
        values = [None if v is MISSING else v for v in values]
    if pa.types.is_null(t):
        return pa.nulls(len(values))
    if is_json(field):
        return pa.array([to_json_text(v) for v in values], type=t)
    if _needs_conform(t):
        values = [_conform(v, field) for v in values]
    return pa.array(values, type=t)


# --- batches -----------------------------------------------------------------------------------
class _Plan:
    """How to fill a schema's fields from a group: which by path vector, which by records."""

    def __init__(self, schema: pa.Schema, columns: list | None) -> None:
        self.schema = schema
        self.whole = bool(schema.metadata) and schema.metadata.get(_ROOT_META) == b"value"
        self.proj = None if columns is None else ordered_projection(columns)
        # top-level fields read as one vector each (whole subtree) vs through projected records
        self.vector = [f.name for f in schema if self.proj is None or self.proj.get(f.name) is None]
        self.nested = {k: v for k, v in (self.proj or {}).items() if v is not None}
        self.paths = None if self.whole or self.proj is None else [(k,) for k in self.vector] + _leaves(self.nested)

    def batch(self, sel: Selection) -> pa.RecordBatch:
        schema = self.schema
        if self.whole or sel.redirected:
            return self._from_records(selection_records(sel, self.proj), len(sel.rows))
        cols: dict[str, pa.Array] = {}
        for name in self.vector:
            f = schema.field(name)
            if pa.types.is_null(f.type):
                cols[name] = pa.nulls(len(sel.rows))
            else:
                cols[name] = values_to_array(sel.reader.path_values_at((name,), sel.rows), f)
        if self.nested:
            recs = sel.reader.records_at(sel.rows, self.nested)
            for name in self.nested:
                cols[name] = values_to_array([r.get(name) for r in recs], schema.field(name))
        return _batch([cols[f.name] for f in schema], schema, len(sel.rows))

    def _from_records(self, recs: list, n: int) -> pa.RecordBatch:
        schema = self.schema
        if self.whole:
            return _batch([values_to_array(recs, schema.field(0))], schema, n)
        arrays = [values_to_array([r.get(f.name) if isinstance(r, dict) else None for r in recs], f)
                  for f in schema]
        return _batch(arrays, schema, n)


def _batch(arrays: list[pa.Array], schema: pa.Schema, n: int) -> pa.RecordBatch:
    if not arrays:  # no field (columns=[]): still n rows
        return pa.RecordBatch.from_struct_array(pa.array([{}] * n, type=pa.struct([]))).replace_schema_metadata(
            schema.metadata)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _leaves(tree: dict, prefix: tuple = ()) -> list[tuple]:
    out = []
    for k, sub in tree.items():
        out.extend([prefix + (k,)] if sub is None else _leaves(sub, prefix + (k,)))
    return out


def _slices(sel: Selection, batch_rows: int | None) -> Iterator[Selection]:
    if batch_rows is None or len(sel.rows) <= batch_rows:
        yield sel
        return
    for a in range(0, len(sel.rows), batch_rows):
        red = {i - a: r for i, r in sel.redirected.items() if a <= i < a + batch_rows}
        yield Selection(sel.group, sel.reader, sel.rows[a:a + batch_rows], red)


def archive_batches(ar: Archive, schema: pa.Schema, columns: list | None = None,
                    where: str | None = None, batch_rows: int | None = None,
                    g0: int = 0, g1: int | None = None) -> Iterator[pa.RecordBatch]:
    """Record batches of ``ar``'s groups ``g0..g1-1`` under ``schema`` (see :func:`to_arrow`)."""
    plan = _Plan(schema, columns)
    expr = parse(where) if where is not None else None
    for sel in select_groups(ar, expr, g0, g1, plan.paths):
        for part in _slices(sel, batch_rows):
            yield plan.batch(part)


def to_arrow(source: Archive | ManyArchives, columns: Iterable[str | tuple] | None = None,
             where: str | None = None, batch_rows: int | None = None,
             schema: pa.Schema | None = None) -> pa.RecordBatchReader:
    """A ``pyarrow.RecordBatchReader`` over ``source``'s records (see the module docstring).

    ``source``: an :class:`~archive.Archive` or an :func:`~archive.open_many` set (one schema
    over all members).  ``columns``/``where``: as ``scan``.  ``batch_rows``: at most this many
    records per batch (default: one batch per group).  ``schema``: force a schema (a
    superset inferred elsewhere, e.g. over more archives); by default :func:`infer_schema`.
    """
    if batch_rows is not None and batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    columns = None if columns is None else list(columns)
    archives = _members(source)
    if schema is None:
        schema = infer_schema(archives, columns)
    if where is not None:
        parse(where)  # syntax errors now, not on the first read

    def gen() -> Iterator[pa.RecordBatch]:
        for ar in archives:
            ar._check_open()
            yield from archive_batches(ar, schema, columns, where, batch_rows)

    return pa.RecordBatchReader.from_batches(schema, gen())
