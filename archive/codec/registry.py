"""The encoding contract and registry.

A column of values of one *kind* is turned into a payload by one :class:`Encoding`.  Kinds and
their in-memory form (what ``encode`` takes and ``decode`` returns):

=========  ==========================================
``int``    ``numpy.ndarray`` of ``int64``
``float``  ``numpy.ndarray`` of ``float64``
``bool``   ``numpy.ndarray`` of ``bool``
``str``    ``numpy.ndarray`` of ``object`` holding ``str``
``bytes``  ``numpy.ndarray`` of ``object`` holding ``bytes``
=========  ==========================================

A payload is one byte, the encoding's stable ``codec_id``, followed by the encoding's body, so
decoding never depends on what the caller knows.  Encodings may hold sub-columns (a dictionary's
index column, a delta's residuals); they encode them with :func:`encode_values`, which picks the
smallest candidate again, and decode them with :func:`decode_values`.

Selection follows tree-buf: every candidate that applies encodes a *sample* of the column, the
sample payload is compressed with a fast zstd level to estimate its final size, and candidates
are tried on the whole column smallest-estimate first until one encodes.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Final, Literal, cast

import numpy as np
import zstandard

from archive.codec.framing import Reader
from archive.codec.lazy import Column
from archive.errors import CorruptChunkError

Kind = Literal["int", "float", "bool", "str", "bytes"]
KINDS: Final[tuple[Kind, ...]] = ("int", "float", "bool", "str", "bytes")
DTYPES: Final[dict[str, np.dtype]] = {
    "int": np.dtype(np.int64),
    "float": np.dtype(np.float64),
    "bool": np.dtype(np.bool_),
    "str": np.dtype(object),
    "bytes": np.dtype(object),
}

#: Nesting depth of sub-columns a payload may declare; deeper is corrupt (bounds recursion).
MAX_DEPTH: Final = 8
#: Columns longer than this are estimated on a sample rather than whole.
SAMPLE_THRESHOLD: Final = 4096
#: Columns this short are scored as if nested deep, where composite encodings (those with
#: sub-columns, whose own selection would recurse) decline and only leaf encodings compete.
FEW: Final = 8
#: Columns this short are scored by payload length alone: compressing each candidate would
#: cost far more than the few bytes it could tell apart.
TINY: Final = 64
_SAMPLE_SLICES: Final = 4
_SAMPLE_SLICE_LEN: Final = 512
_ESTIMATOR = zstandard.ZstdCompressor(level=1)


class Encoding(ABC):
    """One way of laying out a column of one or more kinds.

    Subclasses set ``codec_id`` (stable forever: it is written into data), ``name`` and
    ``kinds``.  The first encoding registered for a kind is its fallback and must encode any
    column of that kind.  ``encode`` returns the body (without the id byte) or ``None`` when the encoding
    does not apply to these values.  ``decode`` must return exactly ``count`` values of the
    kind's dtype, raise :class:`CorruptChunkError` for anything malformed, and never allocate
    more than the sizes it has checked against ``count`` and the bytes it was given.

    ``decode_lazy`` may instead return a :class:`~archive.codec.lazy.LazyColumn` that builds
    values only for the rows asked for.  It must read the same bytes and make every check
    ``decode`` makes before returning, so that reading the column never finds a defect
    ``decode`` would have raised for; the default decodes eagerly.
    """

    codec_id: ClassVar[int]
    name: ClassVar[str]
    kinds: ClassVar[frozenset[str]]

    @abstractmethod
    def encode(self, values: np.ndarray, kind: Kind, depth: int) -> bytes | None: ...

    @abstractmethod
    def decode(self, r: Reader, count: int, kind: Kind, depth: int) -> np.ndarray: ...

    def decode_lazy(self, r: Reader, count: int, kind: Kind, depth: int) -> Column:
        return self.decode(r, count, kind, depth)


_BY_ID: dict[int, Encoding] = {}
_BY_KIND: dict[str, list[Encoding]] = {k: [] for k in KINDS}


def register(cls: type[Encoding]) -> type[Encoding]:
    """Class decorator: add an encoding to the registry (ids must be unique, 1..255)."""
    cid = cls.codec_id
    if not 1 <= cid <= 255:
        raise ValueError(f"codec_id {cid} outside 1..255")
    if cid in _BY_ID:
        raise ValueError(f"codec_id {cid} already registered by {_BY_ID[cid].name}")
    inst = cls()
    _BY_ID[cid] = inst
    for k in cls.kinds:
        _BY_KIND[k].append(inst)
    return cls


def get(codec_id: int) -> Encoding:
    """The encoding with this id; :class:`CorruptChunkError` for an unknown id."""
    try:
        return _BY_ID[codec_id]
    except KeyError:
        raise CorruptChunkError(f"unknown encoding id {codec_id}") from None


def registered(kind: Kind | None = None) -> list[Encoding]:
    """Every registered encoding (for one kind when given), in registration order."""
    return list(_BY_ID.values()) if kind is None else list(_BY_KIND[kind])


def _sample(values: np.ndarray) -> np.ndarray:
    n = len(values)
    if n <= SAMPLE_THRESHOLD:
        return values
    starts = np.linspace(0, n - _SAMPLE_SLICE_LEN, _SAMPLE_SLICES).astype(np.int64)
    return np.concatenate([values[s : s + _SAMPLE_SLICE_LEN] for s in starts])


def _score(candidates: list[Encoding], sample: np.ndarray, kind: Kind,
           depth: int) -> list[tuple[int, int, Encoding, bytes]]:
    """Candidates that apply to ``sample``, smallest estimated size first, with their bodies."""
    scored = []
    for i, enc in enumerate(candidates):
        body = enc.encode(sample, kind, depth)
        if body is not None:
            est = len(body) if len(sample) <= TINY else len(_ESTIMATOR.compress(body))
            scored.append((est, i, enc, body))
    scored.sort(key=lambda t: (t[0], t[1]))
    return scored


#: Top-level candidates whose fast estimate is within this factor of the best are compared
#: again at a zstd level close to a chunk's: level 1 can rank near-ties the wrong way round
#: (measured: canada.json coordinates, float-xor 1.4x larger than float-plain at level 9).
NEAR_TIE: Final = 1.10
_SETTLER = zstandard.ZstdCompressor(level=6)


def _settle_near_ties(scored: list, sample: np.ndarray, kind: Kind, depth: int) -> list:
    best = scored[0][0]
    near = [t for t in scored if t[0] <= best * NEAR_TIE]
    if len(near) < 2 or len(sample) <= TINY:
        return scored
    rescored = sorted(((len(_SETTLER.compress(body)), i, enc, body) for _, i, enc, body in near),
                      key=lambda t: (t[0], t[1]))
    return rescored + [t for t in scored if t[0] > best * NEAR_TIE]


def encode_values(
    kind: Kind, values: np.ndarray, depth: int = 0, only: tuple[int, ...] | None = None
) -> bytes:
    """Encode ``values`` with the smallest applicable encoding; returns id byte + body.

    ``only`` restricts the candidates to these codec ids (used by tests and golden files).
    When the whole column was the sample, the winner's body is reused as is; when the
    sample's winner does not apply to the whole column, the rest are scored on the whole.
    """
    if depth > MAX_DEPTH:
        raise ValueError(f"sub-column nesting deeper than {MAX_DEPTH}")
    values = np.asarray(values, dtype=DTYPES[kind])
    if only is None and len(values) <= FEW:
        scored = _score(_BY_KIND[kind], values, kind, max(depth, MAX_DEPTH - 1))
        if scored:
            return bytes((scored[0][2].codec_id,)) + scored[0][3]
    candidates = [e for e in _BY_KIND[kind] if only is None or e.codec_id in only]
    if not candidates:
        raise ValueError(f"no encoding registered for kind {kind!r} (only={only})")
    sample = _sample(values)
    scored = _score(candidates, sample, kind, depth)
    if depth == 0 and len(scored) > 1:
        scored = _settle_near_ties(scored, sample, kind, depth)
    if sample is values:
        if scored:
            _, _, enc, body = scored[0]
            return bytes((enc.codec_id,)) + body
    else:
        for n, (_, _, enc, _) in enumerate(scored):
            body = enc.encode(values, kind, depth)
            if body is not None:
                if n == 0:
                    return bytes((enc.codec_id,)) + body
                rest = [e for _, _, e, _ in scored[n:]]
                best = _score(rest, values, kind, depth)[0]
                return bytes((best[2].codec_id,)) + best[3]
    raise ValueError(f"no encoding of kind {kind!r} applies to these values (only={only})")


def decode_values(kind: Kind, payload: bytes | memoryview, count: int, depth: int = 0) -> np.ndarray:
    """Decode a payload made by :func:`encode_values`; exactly ``count`` values or an error."""
    return cast(np.ndarray, _decode(kind, payload, count, depth, lazy=False))


def decode_values_lazy(kind: Kind, payload: bytes | memoryview, count: int, depth: int = 0) -> Column:
    """Like :func:`decode_values`, but a ``str``/``bytes`` column may come back as a
    :class:`~archive.codec.lazy.LazyColumn` (the encoding's ``decode_lazy``).  The payload is
    checked as fully as by :func:`decode_values`: a defect raises here, not when rows are read.
    """
    return _decode(kind, payload, count, depth, lazy=kind in ("str", "bytes"))


def _decode(kind: Kind, payload: bytes | memoryview, count: int, depth: int, lazy: bool) -> Column:
    if depth > MAX_DEPTH:
        raise CorruptChunkError(f"sub-columns nested deeper than {MAX_DEPTH}")
    r = Reader(payload)
    enc = get(r.u8())
    if kind not in enc.kinds:
        raise CorruptChunkError(f"encoding {enc.name} (id {enc.codec_id}) cannot hold {kind} values")
    try:
        out = (enc.decode_lazy if lazy else enc.decode)(r, count, kind, depth)
    except CorruptChunkError:
        raise
    except (ValueError, TypeError, IndexError, OverflowError, UnicodeDecodeError, MemoryError) as e:
        raise CorruptChunkError(f"{enc.name}: {type(e).__name__}: {e}") from None
    r.expect_end()
    if len(out) != count or out.dtype != DTYPES[kind]:
        raise CorruptChunkError(
            f"{enc.name} decoded {len(out)} {out.dtype} values, expected {count} {kind}"
        )
    return out
