"""Read a response body without ever holding more than a limit of decoded bytes.

httpx's own decoders expand a whole network chunk at once (a 64 KiB gzip chunk can expand
to ~64 MiB), so we read the raw stream and decompress with ``max_length``.
"""

from __future__ import annotations

import zlib

_IDENTITY = frozenset({"", "identity"})
_GZIP = frozenset({"gzip", "x-gzip"})


class TooLarge(Exception):
    pass


class BadEncoding(Exception):
    pass


class Truncated(BadEncoding):
    """The compressed stream ended before its end marker: the body is cut short."""


class BoundedDecoder:
    def __init__(self, content_encoding: str, limit: int) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",")]
        codings = [c for c in codings if c not in _IDENTITY]
        if len(codings) > 1 or (codings and codings[0] not in _GZIP | {"deflate"}):
            raise BadEncoding(f"unsupported content-encoding {content_encoding!r}")
        self._coding = codings[0] if codings else None
        self._limit = limit
        self._size = 0
        self._zlib: zlib._Decompress | None = None

    @property
    def size(self) -> int:
        """Bytes decoded so far."""
        return self._size

    def _count(self, n: int) -> None:
        self._size += n
        if self._size > self._limit:
            raise TooLarge(f"more than {self._limit} bytes")

    def _new(self, first: bytes) -> zlib._Decompress:
        if self._coding in _GZIP:
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        # "deflate" should be zlib-wrapped (RFC 9110), but some servers send raw deflate.
        wrapped = len(first) >= 2 and first[0] & 0x0F == 8 and (first[0] << 8 | first[1]) % 31 == 0
        return zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)

    def decode(self, chunk: bytes) -> bytes:
        """Decode one chunk of the body; raise TooLarge past the limit."""
        if self._coding is None:
            self._count(len(chunk))
            return chunk
        out: list[bytes] = []
        data = chunk
        while data:
            if self._zlib is None:
                self._zlib = self._new(data)
            try:
                # max_length one past the limit: reaching it proves the limit is exceeded
                piece = self._zlib.decompress(data, self._limit - self._size + 1)
            except zlib.error as exc:
                raise BadEncoding(f"bad {self._coding} data: {exc}") from exc
            self._count(len(piece))
            out.append(piece)
            if self._zlib.unconsumed_tail:
                data = self._zlib.unconsumed_tail
            elif self._zlib.eof and self._coding in _GZIP and self._zlib.unused_data.strip(b"\0"):
                data = self._zlib.unused_data  # another gzip member follows
                self._zlib = None
            else:
                data = b""
        return b"".join(out)

    def flush(self) -> bytes:
        """The rest of the stream; raise Truncated when it ended before its end marker."""
        if self._zlib is None:
            return b""
        rest = self._zlib.flush()
        self._count(len(rest))
        if not self._zlib.eof:  # zlib waits for more instead of raising on a cut stream
            raise Truncated(f"truncated {self._coding} stream: ends before its end marker")
        return rest


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress a gzip file (a ``sitemap.xml.gz``) up to ``limit`` bytes."""
    decoder = BoundedDecoder("gzip", limit)
    return decoder.decode(data) + decoder.flush()


class SniffingDecoder:
    """A stream that may be a gzip file (a ``warc.paths.gz`` listing, a ``sitemap.xml.gz``
    served without Content-Encoding): decompressed when its first bytes are gzip's, else
    passed through; either way never more than ``limit`` bytes out, chunk by chunk, so a
    bomb stops at the limit instead of filling memory."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._head = b""
        self._decoder: BoundedDecoder | None = None

    def decode(self, chunk: bytes) -> bytes:
        """Decode one chunk, gzip or not as its first two bytes say."""
        if self._decoder is None:
            self._head += chunk
            if len(self._head) < 2:
                return b""
            gzipped = self._head[:2] == b"\x1f\x8b"
            self._decoder = BoundedDecoder("gzip" if gzipped else "", self._limit)
            chunk, self._head = self._head, b""
        return self._decoder.decode(chunk)

    def flush(self) -> bytes:
        """The rest of the stream (see ``BoundedDecoder.flush``)."""
        if self._decoder is None:  # fewer than two bytes in all
            self._decoder = BoundedDecoder("", self._limit)
            return self._decoder.decode(self._head)
        return self._decoder.flush()


def read_bounded(path: str, limit: int, chunk: int = 1 << 16) -> bytes:
    """A local file's bytes, gunzipped when it is gzip, streamed: at most ``limit`` bytes
    decompressed (TooLarge past it), Truncated when a gzip stream is cut short."""
    decoder = SniffingDecoder(limit)
    out: list[bytes] = []
    with open(path, "rb") as fh:
        while data := fh.read(chunk):
            out.append(decoder.decode(data))
    out.append(decoder.flush())
    return b"".join(out)
