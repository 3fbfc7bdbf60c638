"""One re-entrant lock per archive handle, so a handle can be shared by threads.

A handle's state — the decoded-group cache and its byte count, the key-block caches, the
writer's pending records, the snapshot a reader is on — changes on reads as well as writes.
Every public operation that touches it runs holding ``self._mutex`` (an ``RLock``: operations
call one another).  Operations on one handle are therefore serialized; threads that want
parallel reads open one handle each (decompression of big batches is multi-threaded inside).
A generator (``scan``) takes the lock per step, not across its yields.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def serialized(fn: F) -> F:
    """Run the method holding its handle's ``_mutex``."""
    @functools.wraps(fn)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self._mutex:
            return fn(self, *args, **kwargs)
    return run  # type: ignore[return-value]
