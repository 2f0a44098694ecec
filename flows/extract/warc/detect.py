"""Is it a WARC, and how is it compressed: plain, gzip or zstd (a dictionary frame first or not)."""

from __future__ import annotations

import io
import os
import zlib
from typing import BinaryIO

from fastwarc.stream_io import GzipReader, WarcReader, ZstdReader

_ZSTD = b"\x28\xb5\x2f\xfd"


def compression(head: bytes) -> str:
    """``gzip``, ``zstd`` or ``''`` (none), from a file's first four bytes."""
    # zstd: a frame, or a skippable one first (which a WARC uses for its dictionary)
    skippable = len(head) >= 4 and head[0] & 0xF0 == 0x50 and head[1:4] == b"\x2a\x4d\x18"
    return "gzip" if head[:2] == b"\x1f\x8b" else "zstd" if head[:4] == _ZSTD or skippable else ""


def open_reader(fh: BinaryIO, kind: str, offset: int) -> WarcReader | BinaryIO:
    """The records from ``offset`` on; zstd from the start, which may hold its dictionary."""
    fh.seek(0 if kind == "zstd" else offset)
    if kind != "zstd":
        return GzipReader(fh) if kind else fh
    reader = ZstdReader(fh)
    reader.read(1)
    reader.inner_seek(offset)
    return reader


def sniff_warc(head: bytes) -> bool:
    """A WARC starts with ``WARC/``, or is a gzip member or zstd frame whose bytes start so."""
    try:
        if compression(head) == "gzip":
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 16)
        elif compression(head) == "zstd":
            head = ZstdReader(io.BytesIO(head)).read(5)
    except (OSError, zlib.error):
        return False
    return head.startswith(b"WARC/")


def is_warc_file(path: str) -> bool:
    """Whether a file is a WARC; non-blocking, so that a FIFO cannot hang discovery."""
    try:
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb", buffering=0) as fh:
            head = fh.read(512) or b""  # (None: a FIFO with nothing written yet)
            if compression(head) == "zstd" and head[:4] != _ZSTD:  # past its dictionary
                room = int.from_bytes(head[4:8], "little") + 520
                head += fh.read(max(0, min(room, 1 << 20) - len(head))) or b""
            return sniff_warc(head)
    except OSError:
        return False
