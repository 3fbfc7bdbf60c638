"""Checks, run helpers and selection helpers shared by the int-based encodings (ints, bools,
floats, strings), and int-dict's split of values into a dictionary and codes.

Decoders call the checks before expanding a few bytes into many values, so a hostile count
or run length is a :class:`~archive.errors.CorruptChunkError`, never an allocation.
"""
from __future__ import annotations

from typing import Final

import numpy as np

from archive.codec.chunk import MAX_ITEMS
from archive.codec.registry import shared
from archive.errors import CorruptChunkError

#: The reductions decoders check sizes with, called directly (arrays are small: the method
#: wrappers cost as much as the work).
_MAX: Final = np.maximum.reduce
_SUM: Final = np.add.reduce
#: Run lengths up to this many are checked as Python ints (measured faster below ~64).
_FEW_RUNS: Final = 48


def check_count(count: int) -> None:
    """Decoders that can expand a few bytes into ``count`` values (constants, runs, dictionary
    indices) refuse counts past the chunk format's limit, whoever the caller is."""
    if count > MAX_ITEMS:
        raise CorruptChunkError(f"{count} values exceed the limit of {MAX_ITEMS}")


def check_run_lengths(lengths: np.ndarray, count: int) -> None:
    """Run lengths must each be 1..count and sum to exactly ``count`` (before any np.repeat)."""
    if len(lengths) == 0:
        if count:
            raise CorruptChunkError(f"no runs for {count} values")
        return
    if len(lengths) <= _FEW_RUNS:  # Python ints: cheaper than numpy's calls on a few values
        items = lengths.tolist()
        if min(items) < 1:  # then each is at most count when they sum to it (no wrap-around)
            raise CorruptChunkError(f"run length outside 1..{count}")
        total = sum(items)
    else:
        if int(_MAX((lengths - 1).view(np.uint64))) >= count:  # 0 and negatives wrap to huge
            raise CorruptChunkError(f"run length outside 1..{count}")
        total = int(_SUM(lengths))  # no overflow: each length is at most count
    if total != count:
        raise CorruptChunkError(f"run lengths sum to {total}, expected {count}")


def check_runs(runs: int, count: int) -> None:
    """A declared number of runs (or dictionary entries) must be 1..count, or 0 iff count is 0."""
    check_count(count)
    if runs > count or (runs == 0) != (count == 0):
        raise CorruptChunkError(f"{runs} runs/entries declared for {count} values")


#: Columns of at least this many equal values are left to the constant-friendly encoding of
#: their kind (int-for at width 0, float-bits, bool-rle): every other encoding declines them,
#: since zstd-estimated sizes of tiny bodies cannot tell a 10-byte payload from a megabyte one.
CONSTANT_MIN: Final = 16


def is_constant(values: np.ndarray) -> bool:
    """At least :data:`CONSTANT_MIN` values, all equal (compare bit patterns for floats)."""
    return (
        len(values) >= CONSTANT_MIN
        and values[0] == values[-1]
        and not bool((values != values[0]).any())
    )


def run_starts(values: np.ndarray) -> np.ndarray:
    """Indices where a new run starts (always includes 0 for a non-empty array)."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.intp)
    change = np.flatnonzero(values[1:] != values[:-1]) + 1
    return np.concatenate((np.zeros(1, dtype=change.dtype), change))


def below(idx: np.ndarray, k: int) -> bool:
    """Whether every int64 of ``idx`` is in 0..k-1 (one pass: a negative one reads as a huge
    unsigned one)."""
    return not len(idx) or int(_MAX(idx.view(np.uint64))) < k


# --------------------------------------------------------------------------- selection helpers


def constant_once(values: np.ndarray) -> bool:
    """:func:`is_constant`, computed once for all the candidates scored on ``values``."""
    return shared(values, "int-constant", is_constant)


def value_range(values: np.ndarray) -> tuple[int, int]:
    """The minimum and maximum of non-empty ``values``, computed once for all candidates."""
    return shared(values, "int-range", _min_max)


def _min_max(values: np.ndarray) -> tuple[int, int]:
    return int(values.min()), int(values.max())


def sub_bound(m: int) -> int:
    """Fewest bytes an int sub-column of ``m`` values takes in its parent's body (for
    :meth:`~archive.codec.registry.Encoding.bound`): the u32 length, the id byte, and the
    smallest body any int encoding makes of ``m`` values: none for no values, else at least
    ``min(1 + m, 9)`` bytes (int-narrow's code and a byte a value, int-for's reference and
    width; int-plain, a delta's head, rle's and dict's two sub-columns take 8 or more)."""
    return 5 + (min(1 + m, 9) if m else 0)


#: A dictionary applies when count >= DICT_RATIO * distinct values.
DICT_RATIO: Final = 4


def dictionary_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Sorted distinct values and each value's index (int-dict's layout), or None when there
    are more than one per DICT_RATIO values."""
    n = len(values)
    limit = max(1, n // DICT_RATIO)
    # cheap early out on a strided sample: its distinct values are a lower bound
    if n > 8192 and len(np.unique(values[:: n // 4096])) > limit:
        return None
    lo, hi = int(values.min()), int(values.max())
    span = hi - lo
    if span <= 2 * n + 4096:  # dense range: counting instead of sorting, O(n)
        offs = (values - lo).astype(np.intp)  # no overflow: span fits
        present = np.bincount(offs, minlength=span + 1) > 0
        uniques = np.flatnonzero(present).astype(np.int64) + lo
        if len(uniques) > limit:
            return None
        lut = np.cumsum(present, dtype=np.int64) - 1
        return uniques, lut[offs]
    uniques, inverse = np.unique(values, return_inverse=True)
    if len(uniques) > limit:
        return None
    return uniques.astype(np.int64, copy=False), inverse.astype(np.int64, copy=False).reshape(n)
