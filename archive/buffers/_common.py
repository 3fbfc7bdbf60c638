"""Helpers shared by the buffer types: byte views over foreign memory and plain numpy results."""
from __future__ import annotations

from typing import Any

import numpy as np


def byte_array(data: object, what: str) -> np.ndarray:
    """A flat, plain ``uint8`` ndarray over ``data``'s memory, never a copy.

    ``data`` is any C-contiguous object exporting the buffer protocol (bytes, bytearray,
    memoryview, mmap, numpy array...).  The result's ``.base`` chain references ``data`` so
    the memory outlives every view taken from it; it is writable exactly when ``data`` is.
    Raises ``TypeError`` for anything else (``what`` names the argument in the message).
    """
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{what} must be a bytes-like object, not {type(data).__name__}") from None
    if not view.c_contiguous:
        raise TypeError(f"{what} must be a C-contiguous bytes-like object")
    return np.frombuffer(view, dtype=np.uint8)


def bytes_view(other: object) -> memoryview | None:
    """``other`` as a flat unsigned-byte memoryview, or ``None`` when it is not bytes-like."""
    try:
        view = memoryview(other)  # type: ignore[arg-type]
    except TypeError:
        return None
    if not view.c_contiguous:
        return None
    if view.format == "B" and view.ndim == 1:
        return view
    return memoryview(np.frombuffer(view, dtype=np.uint8))  # type: ignore[arg-type]


def _plain(x: Any) -> Any:
    return x.view(np.ndarray) if isinstance(x, PlainResults) else x  # type: ignore[attr-defined]


class PlainResults:
    """Mixin for our ndarray subclasses: ufuncs (``+``, ``sum()``, ``==`` on ``.array``...)
    operate on, and return, plain ndarrays, so arithmetic never fabricates a buffer object
    whose invariants (segment table, offset) do not hold."""

    __slots__ = ()

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(_plain(x) for x in out)
        return getattr(ufunc, method)(*(_plain(x) for x in inputs), **kwargs)
