"""Selection plans: record the encoding choices one column's chunk made, replay them on the next.

:func:`planned` wraps one :func:`archive.codec.registry.encode_values` call (a column's chunk)
and yields the tree of choices it made; given the tree of an earlier chunk, every sub-column
first tries the encoding chosen at the same place, skipping selection (see
:func:`archive.engine.chunking.encode_reusing`).  :func:`unplanned` keeps sub-columns an encoding
makes only for some values out of the tree; :func:`given_encoding` tells an encoding whether
its use was decided without trials.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

#: The choices of one selection: (codec id, the trees of its sub-columns in encoding order).
Tree = tuple[int, list]


class Frame:
    """Sub-column choices made under one encoding call, and the ones to replay there;
    ``given``: the call's encoding was given (see :func:`given_encoding`)."""

    __slots__ = ("given", "hints", "made")

    def __init__(self, hints: list[Tree] | None, given: bool = False) -> None:
        self.hints = hints
        self.given = given
        self.made: list[Tree] = []

    def hint(self) -> Tree | None:
        i = len(self.made)
        return self.hints[i] if self.hints is not None and i < len(self.hints) else None


#: The frames of the encoding calls under way inside :func:`planned` (innermost last).
STACK: ContextVar[list[Frame] | None] = ContextVar("archive_selection_stack", default=None)


@contextmanager
def planned(plan: Tree | None) -> Iterator[list[Tree]]:
    """Record, and with ``plan`` replay, the choices of the :func:`encode_values` call made
    inside (one column's encoding, e.g. by a ``ChunkEncoder``).

    Yields a list that holds, after that call, the choice tree actually used.  With a plan
    (the tree of an earlier chunk of the column), every sub-column is first encoded with the
    encoding chosen at the same place of the tree, skipping its selection; where that
    encoding no longer applies, or the place does not exist, selection runs as usual.  Any
    applicable encoding decodes, so replaying only changes sizes, never round trips; the bytes
    depend only on the values and the plan (deterministic)."""
    root = Frame(None if plan is None else [plan])
    token = STACK.set([root])
    try:
        yield root.made
    finally:
        STACK.reset(token)


@contextmanager
def unplanned() -> Iterator[None]:
    """Encode sub-columns outside any plan: neither replayed nor recorded (for sub-columns
    an encoding makes only for some values, which would shift the places of the others)."""
    token = STACK.set(None)
    try:
        yield
    finally:
        STACK.reset(token)


def given_encoding() -> bool:
    """Whether the encoding call under way (inside :func:`planned`) was given its encoding,
    by the plan or as the only candidate, rather than trying it against others: a cheap
    look that only spares selection a trial bound to fail (a typed string's probe) is then
    not worth its cost.  False outside plans and in :func:`unplanned` sub-columns."""
    stack = STACK.get()
    return bool(stack) and stack[-1].given  # type: ignore[index]
