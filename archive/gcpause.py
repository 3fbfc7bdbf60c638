"""Pausing Python's cyclic garbage collector around bulk work: writes and record assembly.

Shredding and encoding a batch allocate hundreds of thousands of container objects (lists,
tuples, small dicts) that reference counting frees; none form cycles the collector is needed
for.  Each allocation burst still triggers collections, and every full collection traverses
every tracked object alive in the process - the caller's batch of records first of all - so
with a large batch in memory the collector can cost a sizeable fraction of the ingest.  Record
assembly is the mirror image: it allocates many containers and frees none, and each
collection would only rescan them (measured: assembly 2.5x faster paused).  The writing entry
points and the assembly of records therefore run with the collector paused; it resumes (and
collects whatever cycles appeared, at its next threshold) as soon as the block ends.
"""
from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Run the block (or, used as ``@gc_paused()``, each call) with the cyclic collector off.

    Nesting is free (an inner pause leaves the collector as it found it).  The switch is
    process-wide: another thread running meanwhile also runs without collections, and a call
    that started with the collector enabled re-enables it when it ends, even if another thread
    disabled it in between (the caller of ``gc.disable`` must not overlap archive writes).
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
