"""The one bounded decompression helper: gzip (every member), deflate (wrapped or raw), br
and identity, chunk by chunk; a bomb stops at the limit, a stream cut short is Truncated."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import brotli
import pytest

from flows.extract.decompress import (
    BadEncoding,
    BoundedDecoder,
    StreamDecoder,
    TooLarge,
    Truncated,
    gunzip,
    gzip_start,
    read_bounded,
)

TEXT = b"The council approved the new budget for the city. " * 200


def encode(coding: str, data: bytes) -> bytes:
    if coding == "gzip":
        return gzip.compress(data)
    if coding == "br":
        return brotli.compress(data)
    return zlib.compress(data)


def chunks(data: bytes, size: int = 7) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
def test_a_bomb_stops_at_the_limit(coding: str) -> None:
    bomb = encode(coding, b"\0" * 20_000_000)
    assert len(bomb) < 40_000
    decoder = BoundedDecoder(coding, 1_000_000)
    with pytest.raises(TooLarge):
        for chunk in chunks(bomb, 4096):
            decoder.decode(chunk)
    # stopped near the limit, never inflated whole (br's output grows in blocks of 32 KiB)
    assert decoder.size <= 1_000_000 + 32 * 1024


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
def test_decoded_chunk_by_chunk_and_a_cut_stream_is_truncated(coding: str) -> None:
    data = encode(coding, TEXT)
    decoder = BoundedDecoder(coding, len(TEXT))
    assert b"".join(decoder.decode(c) for c in chunks(data)) + decoder.flush() == TEXT
    cut = BoundedDecoder(coding, len(TEXT))
    cut.decode(data[: len(data) // 2])
    with pytest.raises(Truncated):
        cut.flush()


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS])
def test_deflate_wrapped_or_raw(wbits: int) -> None:
    compressor = zlib.compressobj(wbits=wbits)
    data = compressor.compress(b"hello " * 1000) + compressor.flush()
    decoder = BoundedDecoder("deflate", 10_000)
    out = b"".join(decoder.decode(c) for c in chunks(data))
    assert out + decoder.flush() == b"hello " * 1000


def test_gzip_members_identity_and_unknown_codings() -> None:
    assert gunzip(gzip.compress(b"a") + gzip.compress(b"b"), 10) == b"ab"
    assert gzip_start(gzip.compress(b"WARC/1.0\r\n" + TEXT)[:64], 5) == b"WARC/"
    with pytest.raises(BadEncoding):
        gzip_start(b"\x1f\x8bnot gzip at all", 5)
    assert BoundedDecoder("identity", 3).decode(b"abc") == b"abc"
    with pytest.raises(TooLarge):
        BoundedDecoder("", 3).decode(b"abcd")
    for coding in ("zstd", "gzip, br"):
        with pytest.raises(BadEncoding):
            BoundedDecoder(coding, 3)


def test_a_body_that_is_a_gzip_file_is_unwrapped_after_its_content_encoding() -> None:
    """A warc.paths.gz served with Content-Encoding gzip: two layers, one limit."""
    listing = b"crawl-data/a.warc.gz\n" * 100
    wire = gzip.compress(gzip.compress(listing))
    decoder = StreamDecoder("gzip", len(listing), unwrap_gzip=True)
    assert b"".join(decoder.decode(c) for c in chunks(wire)) + decoder.flush() == listing
    plain = StreamDecoder("", len(listing), unwrap_gzip=True)
    assert plain.decode(listing) + plain.flush() == listing
    small = StreamDecoder("gzip", len(listing) - 1, unwrap_gzip=True)
    with pytest.raises(TooLarge):
        small.decode(wire)
        small.flush()


def test_read_bounded_reads_a_local_file_gzipped_or_not(tmp_path: Path) -> None:
    (tmp_path / "plain").write_bytes(TEXT)
    (tmp_path / "gz").write_bytes(gzip.compress(TEXT))
    (tmp_path / "cut").write_bytes(gzip.compress(TEXT)[:-20])
    assert read_bounded(str(tmp_path / "plain"), len(TEXT)) == TEXT
    assert read_bounded(str(tmp_path / "gz"), len(TEXT), chunk=64) == TEXT
    with pytest.raises(TooLarge):
        read_bounded(str(tmp_path / "gz"), len(TEXT) - 1)
    with pytest.raises(Truncated):
        read_bounded(str(tmp_path / "cut"), len(TEXT))
