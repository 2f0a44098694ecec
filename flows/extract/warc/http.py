"""An archived HTTP response's body as a browser gets it, never more than a limit decoded."""

from __future__ import annotations

import contextlib
import io

from fastwarc.stream_io import ChunkedReader
from fastwarc.warc import WarcRecord

from flows.core.units import RejectReason
from flows.extract.decompress import BadEncoding, BoundedDecoder, TooLarge, Truncated


class RecordError(Exception):
    """A record the worker cannot read: a stable reason and a detail naming file and offset."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def http_body(record: WarcRecord, block: bytes, limit: int, where: str) -> bytes:
    """The body in ``block`` as a browser gets it (wget, warcprox keep chunks and encodings),
    at most ``limit`` decoded; as it is when its header does not fit (it was stored decoded)."""
    record.set_bytes_content(block)
    record.parse_http(quirks_mode=True)  # headers ended by LF alone: old servers, crawlers
    headers, body = record.http_headers, record.reader.read()
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        with contextlib.suppress(OSError):  # not chunked after all: the bytes as they are
            body = ChunkedReader(io.BytesIO(body)).read(limit + 1)
    coding = (headers.get("Content-Encoding") or "").strip().lower()
    try:
        decoder = BoundedDecoder(coding, limit)
        return decoder.decode(body) + decoder.flush()
    except TooLarge as exc:
        detail = f"body past {limit} bytes decoded at {where}"
        raise RecordError(RejectReason.TOO_LARGE, detail) from exc
    except Truncated as exc:
        detail = f"truncated {coding} stream at {where}: it ends before its end marker"
        raise RecordError(RejectReason.READ_ERROR, detail) from exc
    except (BadEncoding, OSError):
        return body
