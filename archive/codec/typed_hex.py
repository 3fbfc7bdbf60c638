"""Hex typed strings: str-hex (130); layout in typed_strings.py.

A chunk's values share one template of fixed width: hex-digit places (one case per chunk) and
printable ASCII literals, inferred from a sample of the commonest lengths.  The nibbles are
stored packed two a byte as byte planes; rendering fills the template back in, vectorised.
"""
from __future__ import annotations

from typing import Any, Final

import numpy as np

from archive.codec.framing import Reader, Writer
from archive.codec.registry import register
from archive.codec.typed_strings import (
    HEX,
    TypedString,
    ascii_matrix,
    from_planes,
    rows_to_strings,
    strided,
    to_planes,
)
from archive.errors import CorruptChunkError

_HEXVAL: Final = np.full(256, 255, dtype=np.uint8)
_HEXVAL[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10)
_LOWER: Final = _HEXVAL.copy()
_LOWER[np.frombuffer(b"abcdef", np.uint8)] = np.arange(10, 16)
_UPPER: Final = _HEXVAL.copy()
_UPPER[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16)
_ANYCASE: Final = np.minimum(_LOWER, _UPPER)
_AF_LOWER: Final = np.frombuffer(b"abcdef", np.uint8)
_AF_UPPER: Final = np.frombuffer(b"ABCDEF", np.uint8)
_HEXDIGITS: Final = (np.frombuffer(b"0123456789abcdef", np.uint8),
                     np.frombuffer(b"0123456789ABCDEF", np.uint8))


@register
class StrHex(TypedString):
    codec_id = HEX
    name = "str-hex"
    settling = False
    min_len, max_len = 4, 128
    call_rows = 128

    def parse(self, values: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, Any] | None:
        counts = np.bincount(lens)
        for width in np.argsort(-counts, kind="stable")[:3].tolist():  # the commonest lengths
            group = np.flatnonzero(lens == width)
            if len(group) == 0:
                return None
            found = self._template(values[strided(group)].tolist(), width)
            if found is not None:
                break
        else:
            return None
        template, upper = found
        ph = template == 0
        m = ascii_matrix(values[group].tolist(), width, lens[group])
        nib = (_UPPER if upper else _LOWER)[m[:, ph]]
        gok = (m[:, ~ph] == template[~ph]).all(axis=1) & (nib != 255).all(axis=1)
        ok = np.zeros(len(values), dtype=bool)
        ok[group[gok]] = True
        return ok, (upper, template, nib[gok])

    @staticmethod
    def _template(sample: list[str], width: int) -> tuple[np.ndarray, bool] | None:
        """The layout of these same-length values: (template, upper case), or None if not hex.

        A column is a hex digit when most values have one there, else the commonest byte.
        """
        m = ascii_matrix(sample, width, np.full(len(sample), width))
        ph = (_ANYCASE[m] != 255).mean(axis=0) >= 0.5
        nph = int(ph.sum())
        if nph < 4 or 2 * nph < width:
            return None
        lit = np.array([np.bincount(m[:, j], minlength=256).argmax() for j in range(width)],
                       dtype=np.uint8)
        if ((lit[~ph] < 32) | (lit[~ph] > 126)).any():
            return None  # literals are printable ASCII
        letters = m[:, ph]
        upper = int(np.isin(letters, _AF_UPPER).sum()) > int(np.isin(letters, _AF_LOWER).sum())
        return np.where(ph, 0, lit).astype(np.uint8), upper

    def write(self, w: Writer, state: Any, ok: np.ndarray, depth: int) -> None:
        upper, template, nib = state
        w.u8(int(upper))
        w.u8(len(template))
        w.raw(template.tobytes())
        if nib.shape[1] % 2:
            nib = np.concatenate([nib, np.zeros((len(nib), 1), np.uint8)], axis=1)
        w.blob(to_planes((nib[:, 0::2] << 4) | nib[:, 1::2]))

    def prepare(self, r: Reader, n: int, depth: int) -> tuple[int, np.ndarray, np.ndarray]:
        flags = r.u8()
        width = r.u8()
        if flags > 1 or not 1 <= width <= self.max_len:  # bounds what count values expand to
            raise CorruptChunkError(f"hex flags {flags} / width {width}")
        template = np.frombuffer(r.raw(width), dtype=np.uint8).copy()
        ph = template == 0
        if ((template[~ph] < 32) | (template[~ph] > 126)).any():
            raise CorruptChunkError("hex template literal is not printable ASCII")
        return flags, template, from_planes(r.blob(), n, (int(ph.sum()) + 1) // 2)

    def render(self, prepared: tuple[int, np.ndarray, np.ndarray],
               rows: np.ndarray | None) -> list[str]:
        flags, template, packed = prepared
        if rows is not None:
            packed = packed[rows]
        ph = template == 0
        nib = np.empty((len(packed), 2 * packed.shape[1]), dtype=np.uint8)
        nib[:, 0::2] = packed >> 4
        nib[:, 1::2] = packed & 15
        m = np.empty((len(packed), len(template)), dtype=np.uint8)
        m[:, ~ph] = template[~ph]
        m[:, ph] = _HEXDIGITS[flags][nib[:, :int(ph.sum())]]
        return rows_to_strings(m)
