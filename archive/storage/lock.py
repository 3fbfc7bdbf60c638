"""The one-writer-at-a-time lock, shared by every process that opens an archive for writing."""
from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from archive.errors import ArchiveLockedError


class WriterLock:
    """An exclusive ``flock`` on ``<archive>/LOCK``, released on :meth:`release` or process exit.

    ``timeout`` 0 fails at once with :class:`ArchiveLockedError`; a positive timeout polls
    until the lock is free or the time is up; ``None`` waits forever.
    """

    def __init__(self, directory: Path, timeout: float | None = 0.0) -> None:
        self.path = directory / "LOCK"
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    os.close(self._fd)
                    raise ArchiveLockedError(
                        f"{directory} is open for writing by another process "
                        f"(waited {timeout or 0:g} s); open it with mode='r', or pass a "
                        "larger lock_timeout"
                    ) from None
                time.sleep(0.02)
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n".encode())

    def release(self) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1
