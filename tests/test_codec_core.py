"""Chunk framing and the registry's hostile-input rules (encodings are tested in their own files)."""
import struct
import zlib

import pytest
import zstandard

from archive.codec import chunk as ch
from archive.codec.framing import Reader, Writer
from archive.codec.registry import decode_values
from archive.errors import ArchiveError, CorruptChunkError


def test_reader_bounds():
    w = Writer()
    w.u32(5)
    w.blob(b"abc")
    r = Reader(w.getvalue())
    assert r.u32() == 5
    assert bytes(r.blob()) == b"abc"
    with pytest.raises(CorruptChunkError, match="truncated"):
        r.u8()


def test_reader_blob_claiming_too_much():
    r = Reader(struct.pack("<I", 10**9) + b"xx")
    with pytest.raises(CorruptChunkError, match="truncated"):
        r.blob()


def test_unknown_encoding_id():
    with pytest.raises(CorruptChunkError, match="unknown encoding id 250"):
        decode_values("int", b"\xfa", 0)


def test_corrupt_chunk_error_is_archive_error():
    assert issubclass(CorruptChunkError, ArchiveError)


def _header(count=1, raw=8, body=b"", flags=1, magic=ch.MAGIC, kind=1):
    return ch.HEADER.pack(magic, kind, flags, 0, count, raw, len(body), zlib.crc32(body)) + body


@pytest.mark.parametrize(
    "buf, msg",
    [
        (b"", "shorter"),
        (_header(magic=b"XXXX"), "bad magic"),
        (_header(kind=9), "unknown kind"),
        (_header(flags=6), "unknown flags"),
        (_header(count=10**9), "limit"),
        (_header(raw=1 << 30), "limit"),
    ],
)
def test_bad_headers(buf, msg):
    with pytest.raises(CorruptChunkError, match=msg):
        ch.decode_chunk(buf)


def test_checksum_mismatch():
    body = zstandard.ZstdCompressor().compress(b"\x01" * 8)
    buf = bytearray(_header(raw=8, body=body))
    buf[-1] ^= 0xFF
    with pytest.raises(CorruptChunkError, match="checksum"):
        ch.decode_chunk(bytes(buf))


def test_decompression_bomb_rejected_before_allocation():
    # A frame that declares 4 GiB of content but a header that says 8 bytes.
    bomb = zstandard.ZstdCompressor().compress(b"\0" * (1 << 20))
    with pytest.raises(CorruptChunkError, match="declares"):
        ch.decompress_bounded(bomb, 8)


def test_declared_size_must_match_header():
    frame = zstandard.ZstdCompressor(write_content_size=False).compress(b"abc")
    with pytest.raises(CorruptChunkError, match="declares"):
        ch.decompress_bounded(frame, 3)
