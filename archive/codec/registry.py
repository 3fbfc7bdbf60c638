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
sample payload is compressed with a fast zstd level to estimate its final size (unless only one
candidate applies: there is nothing to rank), and candidates are tried on the whole column
smallest-estimate first until one encodes.  A costly candidate
(:attr:`Encoding.yields`: the log templates) is tried last, and not at all when another's
sample body :meth:`~Encoding.settles` the column (a typed string encoding that typed every
value: the template would only split those values into more columns).  A column encoded
chunk after chunk (the writer) can skip most of that work: :func:`~archive.codec.plans.planned` records the choices
made for a chunk, sub-columns included, and replays them on the next one.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from contextvars import ContextVar
from typing import ClassVar, Final, Literal, TypeVar, cast

import numpy as np

from archive.codec.framing import Reader
from archive.codec.lazy import Column
from archive.codec.plans import STACK, Frame, Tree
from archive.codec.zstd_contexts import compressor
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
#: A :meth:`Encoding.bound` meaning "does not apply to these values".
NEVER: Final = 1 << 62
#: zstd level of the fast size estimate of every candidate.
ESTIMATE_LEVEL: Final = 1
#: zstd level at which near-ties (see NEAR_TIE) are compared again.
SETTLE_LEVEL: Final = 6
_SAMPLE_SLICES: Final = 4
_SAMPLE_SLICE_LEN: Final = 512


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
    #: The sub-columns ``encode`` makes are the same ones, in the same order, for any values
    #: it applies to, so the choices made for them can be replayed on the next chunk of a
    #: column (:func:`planned`); sub-columns made or not depending on the values must then be
    #: encoded under :func:`unplanned`.
    replays: ClassVar[bool] = False
    #: A costly encoding that selection does not try on a column another candidate
    #: :meth:`settles` (it is then scored after the others, see :func:`_score`).
    yields: ClassVar[bool] = False

    @abstractmethod
    def encode(self, values: np.ndarray, kind: Kind, depth: int) -> bytes | None: ...

    def bound(self, values: np.ndarray, kind: Kind, depth: int) -> int:
        """A lower bound of the length of the body ``encode`` returns for ``values`` when it
        applies (:data:`NEVER`: it does not apply), computed much faster than ``encode``.
        Selection by body length (columns of at most :data:`TINY` values) trial-encodes the
        candidates in the order of their bounds and stops at the first whose bound cannot
        beat the best body so far: an exact bound (the leaf ints') then spares every trial
        but the winner's.  The default, 0, always tries the encoding."""
        return 0

    def settles(self, body: bytes) -> bool:
        """Whether ``body`` (this encoding's, of the values being scored) stores every value
        as one token of a fixed grammar, none left over, so that no :attr:`yields` encoding
        could store the column smaller (each encoding that says yes justifies it)."""
        return False

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


def _trial(enc: Encoding, values: np.ndarray, kind: Kind, depth: int,
           hints: list[Tree] | None = None, given: bool = False
           ) -> tuple[bytes | None, list[Tree] | None]:
    """``enc``'s body of ``values`` and, when choices are being recorded, its sub-columns'
    (``given``: see :func:`~archive.codec.plans.given_encoding`)."""
    stack = STACK.get()
    if stack is None:
        return enc.encode(values, kind, depth), None
    if not enc.replays:  # nothing below it would be replayed: no need to record it either
        token = STACK.set(None)  # :func:`unplanned`, without a context manager's cost
        try:
            return enc.encode(values, kind, depth), []
        finally:
            STACK.reset(token)
    frame = Frame(hints, given)
    stack.append(frame)
    try:
        return enc.encode(values, kind, depth), frame.made
    finally:
        stack.pop()


#: What the candidates of the :func:`_score` call under way derived from the arrays they
#: were given: ``(key, id(array)) -> (array, value)`` (see :func:`shared`).
_SHARED: ContextVar[dict | None] = ContextVar("archive_selection_shared", default=None)
_T = TypeVar("_T")


def shared(values: np.ndarray, key: str, build: Callable[[np.ndarray], _T]) -> _T:
    """``build(values)``, computed once for all the candidates scored on the same sample (the
    typed string encodings all measure the values' lengths, for instance).  ``key`` names
    what ``build`` derives.  Entries hold the array itself and live for one scoring, during
    which nothing modifies the sample; outside scoring this is just ``build(values)``."""
    memo = _SHARED.get()
    if memo is None:
        return build(values)
    hit = memo.get((key, id(values)))
    if hit is not None and hit[0] is values:
        return cast(_T, hit[1])
    out = build(values)
    memo[(key, id(values))] = (values, out)
    return out


def _score(candidates: list[Encoding], sample: np.ndarray, kind: Kind,
           depth: int) -> list[tuple[int, int, Encoding, bytes, list[Tree] | None]]:
    """Candidates that apply to ``sample``, smallest estimated size first, with their bodies
    (and sub-column choices).  Candidates that :attr:`~Encoding.yields` are tried last, and
    not at all once another candidate's body :meth:`~Encoding.settles` the sample; ties still
    go to the earlier registered.  Candidates may share what they derive (:func:`shared`).
    A sample scored by body length alone gets only its best (see :func:`_best_by_length`)."""
    token = _SHARED.set({})
    try:
        return _score_all(candidates, sample, kind, depth)
    finally:
        _SHARED.reset(token)


def _score_all(candidates: list[Encoding], sample: np.ndarray, kind: Kind,
               depth: int) -> list[tuple[int, int, Encoding, bytes, list[Tree] | None]]:
    if len(sample) <= TINY and not any(e.yields for e in candidates):
        return _best_by_length(candidates, sample, kind, depth)
    scored: list = []
    deferred = []
    settled = False
    for i, enc in enumerate(candidates):
        if enc.yields:
            deferred.append(i)
        elif _add_trial(scored, i, enc, sample, kind, depth):
            settled = True
    if not settled:
        for i in deferred:
            _add_trial(scored, i, candidates[i], sample, kind, depth)
    if len(scored) > 1 and len(sample) > TINY:  # one candidate alone needs no estimate
        compress = compressor(ESTIMATE_LEVEL).compress
        scored = [(len(compress(t[3])),) + t[1:] for t in scored]
    scored.sort(key=lambda t: (t[0], t[1]))
    return scored


def _best_by_length(candidates: list[Encoding], sample: np.ndarray, kind: Kind,
                    depth: int) -> list[tuple[int, int, Encoding, bytes, list[Tree] | None]]:
    """:func:`_score_all` of a column scored by body length alone (no candidate yields): the
    best candidate only (an empty list when none applies).  Candidates are tried in the
    order of their :meth:`~Encoding.bound`; once a bound is no smaller than the best body so
    far (equal: the best was registered earlier), no later one can win, so the choice is the
    one trying every candidate makes."""
    bounds = sorted((enc.bound(sample, kind, depth), i) for i, enc in enumerate(candidates))
    best: tuple | None = None
    for lb, i in bounds:
        if lb >= NEVER or best is not None and (lb, i) > best[:2]:
            break
        enc = candidates[i]
        body, made = _trial(enc, sample, kind, depth)
        if body is not None and (best is None or (len(body), i) < best[:2]):
            best = (len(body), i, enc, body, made)
    return [] if best is None else [best]


def _add_trial(scored: list, i: int, enc: Encoding, sample: np.ndarray, kind: Kind,
               depth: int) -> bool:
    """Append ``enc``'s body of ``sample`` (the ``i``-th candidate), with its length for
    estimate (see :func:`_score_all`), to ``scored`` when it applies; whether that body
    settles the sample."""
    body, made = _trial(enc, sample, kind, depth)
    if body is None:
        return False
    scored.append((len(body), i, enc, body, made))
    return enc.settles(body)


#: Top-level candidates whose fast estimate is within this factor of the best are compared
#: again at a zstd level close to a chunk's: level 1 can rank near-ties the wrong way round
#: (measured: canada.json coordinates, float-xor 1.4x larger than float-plain at level 9).
NEAR_TIE: Final = 1.10


def _settle_near_ties(scored: list, sample: np.ndarray, kind: Kind, depth: int) -> list:
    best = scored[0][0]
    near = [t for t in scored if t[0] <= best * NEAR_TIE]
    if len(near) < 2 or len(sample) <= TINY:
        return scored
    rescored = sorted(((len(compressor(SETTLE_LEVEL).compress(t[3])),) + t[1:] for t in near),
                      key=lambda t: (t[0], t[1]))
    return rescored + [t for t in scored if t[0] > best * NEAR_TIE]


def encode_values(
    kind: Kind, values: np.ndarray, depth: int = 0, only: tuple[int, ...] | None = None
) -> bytes:
    """Encode ``values`` with the smallest applicable encoding; returns id byte + body.

    ``only`` restricts the candidates to these codec ids (tests, golden files, sub-column
    roles, and the writer's reuse of a column's last choice); a single candidate encodes the
    whole column directly, with no sample or estimate.  When the whole column was the sample,
    the winner's body is reused as is; when the sample's winner does not apply to the whole
    column, the rest are scored on the whole.  Inside :func:`planned`, the choice is recorded
    and a planned one tried first.
    """
    if depth > MAX_DEPTH:
        raise ValueError(f"sub-column nesting deeper than {MAX_DEPTH}")
    values = np.asarray(values, dtype=DTYPES[kind])
    stack = STACK.get()
    parent = None if stack is None else stack[-1]
    hint = None if parent is None else parent.hint()
    if hint is not None and hint[0] in _BY_ID and (only is None or hint[0] in only):
        enc = _BY_ID[hint[0]]
        if kind in enc.kinds:
            body, made = _trial(enc, values, kind, depth, hint[1], given=True)
            if body is not None:
                return _chosen(parent, enc, body, made)
    if only is None and len(values) <= FEW:
        scored = _score(_BY_KIND[kind], values, kind, max(depth, MAX_DEPTH - 1))
        if scored:
            return _chosen(parent, *scored[0][2:])
    candidates = [e for e in _BY_KIND[kind] if only is None or e.codec_id in only]
    if not candidates:
        raise ValueError(f"no encoding registered for kind {kind!r} (only={only})")
    if len(candidates) == 1:  # nothing to choose: no sample, no estimate
        body, made = _trial(candidates[0], values, kind, depth, given=True)
        if body is not None:
            return _chosen(parent, candidates[0], body, made)
        raise ValueError(f"no encoding of kind {kind!r} applies to these values (only={only})")
    sample = _sample(values)
    scored = _score(candidates, sample, kind, depth)
    if depth == 0 and len(scored) > 1:
        scored = _settle_near_ties(scored, sample, kind, depth)
    if sample is values:
        if scored:
            return _chosen(parent, *scored[0][2:])
    else:
        for n, t in enumerate(scored):
            body, made = _trial(t[2], values, kind, depth)
            if body is not None:
                if n == 0:
                    return _chosen(parent, t[2], body, made)
                best = _score([u[2] for u in scored[n:]], values, kind, depth)[0]
                return _chosen(parent, *best[2:])
    raise ValueError(f"no encoding of kind {kind!r} applies to these values (only={only})")


def _chosen(parent: Frame | None, enc: Encoding, body: bytes, made: list[Tree] | None) -> bytes:
    """The payload of the chosen encoding; the choice is recorded in ``parent`` if any."""
    if parent is not None:
        parent.made.append((enc.codec_id, made or []))
    return bytes((enc.codec_id,)) + body


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
    enc = _BY_ID.get(r.u8())
    if enc is None:
        raise CorruptChunkError(f"unknown encoding id {payload[0]}")
    if kind not in enc.kinds:
        raise CorruptChunkError(f"encoding {enc.name} (id {enc.codec_id}) cannot hold {kind} values")
    try:
        out = enc.decode_lazy(r, count, kind, depth) if lazy else enc.decode(r, count, kind, depth)
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
