"""Storage mechanics: append-only segment files of chunks, and the cross-process writer lock."""
