"""Bounds-checked little-endian byte framing shared by every encoding.

:class:`Writer` builds payloads; :class:`Reader` parses them and raises
:class:`~archive.errors.CorruptChunkError` on any read past the end or any size that does not
fit the bytes that are left, so hostile input can never trigger a large allocation.
"""
from __future__ import annotations

import struct

import numpy as np

from archive.errors import CorruptChunkError

_U8 = struct.Struct("<B")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")


class Writer:
    """Accumulates a payload; ``getvalue()`` returns the bytes."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def u8(self, v: int) -> None:
        self._parts.append(_U8.pack(v))

    def u32(self, v: int) -> None:
        self._parts.append(_U32.pack(v))

    def u64(self, v: int) -> None:
        self._parts.append(_U64.pack(v))

    def i64(self, v: int) -> None:
        self._parts.append(_I64.pack(v))

    def f64(self, v: float) -> None:
        self._parts.append(_F64.pack(v))

    def raw(self, b: bytes | bytearray | memoryview) -> None:
        self._parts.append(bytes(b))

    def blob(self, b: bytes | bytearray | memoryview) -> None:
        """A u32 length followed by the bytes."""
        self.u32(len(b))
        self._parts.append(bytes(b))

    def array(self, a: np.ndarray) -> None:
        """A little-endian numpy array's raw bytes, length-prefixed (dtype is the caller's)."""
        self.blob(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"), copy=False).tobytes())

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


class Reader:
    """Sequential reader over a payload with bounds checks on every access."""

    __slots__ = ("_buf", "_pos", "_end")

    def __init__(self, buf: bytes | bytearray | memoryview) -> None:
        self._buf = memoryview(buf).cast("B") if not isinstance(buf, bytes) else memoryview(buf)
        self._pos = 0
        self._end = len(self._buf)

    @property
    def remaining(self) -> int:
        return self._end - self._pos

    def _short(self, n: int) -> CorruptChunkError:
        return CorruptChunkError(f"payload truncated: needed {n} bytes at offset {self._pos}, "
                                 f"{self._end - self._pos} left")

    def _take(self, n: int) -> memoryview:
        pos = self._pos
        if n < 0 or n > self._end - pos:
            raise self._short(n)
        self._pos = pos + n
        return self._buf[pos : pos + n]

    # The readers below repeat _take's bounds check inline: they run for every field of
    # every (sub-)column decoded, and a method call costs as much as the check.

    def u8(self) -> int:
        pos = self._pos
        if pos >= self._end:
            raise self._short(1)
        self._pos = pos + 1
        return self._buf[pos]

    def u32(self) -> int:
        pos = self._pos
        if pos + 4 > self._end:
            raise self._short(4)
        self._pos = pos + 4
        return _U32.unpack_from(self._buf, pos)[0]

    def u64(self) -> int:
        pos = self._pos
        if pos + 8 > self._end:
            raise self._short(8)
        self._pos = pos + 8
        return _U64.unpack_from(self._buf, pos)[0]

    def i64(self) -> int:
        pos = self._pos
        if pos + 8 > self._end:
            raise self._short(8)
        self._pos = pos + 8
        return _I64.unpack_from(self._buf, pos)[0]

    def f64(self) -> float:
        pos = self._pos
        if pos + 8 > self._end:
            raise self._short(8)
        self._pos = pos + 8
        return _F64.unpack_from(self._buf, pos)[0]

    def raw(self, n: int) -> memoryview:
        return self._take(n)

    def blob(self) -> memoryview:
        """A u32 length, then that many bytes."""
        pos = self._pos
        end = self._end
        if pos + 4 > end:
            raise self._short(4)
        n = _U32.unpack_from(self._buf, pos)[0]
        pos += 4
        self._pos = pos
        if n > end - pos:
            raise self._short(n)
        self._pos = pos + n
        return self._buf[pos : pos + n]

    def array(self, dtype: np.dtype | str, count: int | None = None) -> np.ndarray:
        """Read a length-prefixed array of ``dtype``; ``count`` items when given (checked)."""
        dt = np.dtype(dtype).newbyteorder("<")
        data = self.blob()
        if len(data) % dt.itemsize:
            raise CorruptChunkError(f"array of {len(data)} bytes is not a multiple of {dt.itemsize}")
        if count is not None and len(data) != count * dt.itemsize:
            raise CorruptChunkError(
                f"array holds {len(data) // dt.itemsize} items, expected {count}"
            )
        return np.frombuffer(data, dtype=dt).astype(dt.newbyteorder("="), copy=False)

    def expect_end(self) -> None:
        if self._pos != self._end:
            raise CorruptChunkError(f"{self._end - self._pos} unexpected trailing bytes in payload")
