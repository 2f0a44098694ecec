"""An input's bytes, as the worker reads them: a file, a record of a web archive, or bytes
already fetched; gzip is inflated with the shared bounded decoder."""

from __future__ import annotations

import os

from flows.core.settings import MAX_INPUT_BYTES
from flows.core.units import RejectReason, WorkUnit
from flows.extract.warc import RecordError, read_payload
from flows.extract.web.body import BadEncoding, BoundedDecoder, TooLarge, Truncated


class Unreadable(Exception):
    """The input's bytes cannot be had; ``reason`` is its reject reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def read_bytes(unit: WorkUnit, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The unit's raw bytes, gunzipped when gzip, refusing anything past ``limit``."""
    if unit.data is not None:
        data = unit.data
    elif "warc_offset" in unit.meta:  # one record of a web archive: read only that
        assert unit.path is not None
        try:
            data = read_payload(unit.path, unit.meta, limit)
        except RecordError as exc:
            raise Unreadable(exc.reason, exc.detail) from exc
    else:
        assert unit.path is not None
        try:
            with open(unit.path, "rb") as fh:
                # Sized to the file: read(limit + 1) would allocate 10 MB for every page.
                size = os.fstat(fh.fileno()).st_size
                data = fh.read(min(size, limit) + 1)
                if len(data) > size:  # the file grew since fstat: read the rest
                    data += fh.read(limit + 1 - len(data))
        except OSError as exc:
            raise Unreadable(RejectReason.READ_ERROR, f"{type(exc).__name__}: {exc}") from exc
    if len(data) > limit:
        raise Unreadable(RejectReason.TOO_LARGE, f"more than {limit} bytes")
    if data[:2] == b"\x1f\x8b":
        # The one bounded decoder that web bodies and listings use: a bomb stops at the limit
        # instead of filling memory, and every member of a concatenated gzip is read.
        decoder = BoundedDecoder("gzip", limit)
        try:
            data = decoder.decode(data) + decoder.flush()
        except TooLarge as exc:
            raise Unreadable(RejectReason.TOO_LARGE, f"gzip expands past {limit} bytes") from exc
        except Truncated as exc:
            # A page cut short is not the page: what came out would load as a partial body.
            if not decoder.size:
                raise Unreadable(
                    RejectReason.DECODE_ERROR, "truncated gzip data: nothing decompresses"
                ) from exc
            raise Unreadable(
                RejectReason.READ_ERROR,
                f"truncated gzip stream: ends after {decoder.size} bytes, before its end marker",
            ) from exc
        except BadEncoding as exc:
            raise Unreadable(RejectReason.DECODE_ERROR, str(exc)) from exc
    return data
