"""A group's chunk references by column, for readers that ask for a few columns of a group."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from archive.codec.int_checks import run_starts


class ColumnRefs(Mapping[int, np.ndarray]):
    """A group's chunk references by column id (each column's in part order), sliced from the
    group's references when asked for: a point read asks for few of them."""

    def __init__(self, refs: np.ndarray) -> None:
        cols = refs["col"]
        if len(cols) > 1 and not bool((cols[1:] >= cols[:-1]).all()):  # writers list them sorted
            refs = refs[np.argsort(cols, kind="stable")]
            cols = refs["col"]
        starts = run_starts(cols)  # each column's first chunk
        self._refs = refs
        self._bounds = starts.tolist() + [len(cols)]
        self._at = dict(zip(cols[starts].tolist(), range(len(starts))))  # column -> its span

    def __getitem__(self, col: int) -> np.ndarray:
        i = self._at[col]
        return self._refs[self._bounds[i]:self._bounds[i + 1]]

    def get(self, col: int, default: Any = None) -> Any:  # Mapping.get's try/except is slower
        i = self._at.get(col)
        return default if i is None else self._refs[self._bounds[i]:self._bounds[i + 1]]

    def __contains__(self, col: object) -> bool:
        return col in self._at

    def __iter__(self) -> Iterator[int]:
        return iter(self._at)

    def __len__(self) -> int:
        return len(self._at)
