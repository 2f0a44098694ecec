"""Read one indexed record's payload in the worker, checked whole before it is used."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping

from fastwarc.stream_io import WarcReader
from fastwarc.warc import ArchiveIterator, WarcRecord, WarcRecordType

from flows.core.units import RejectReason
from flows.extract.warc.detect import compression, open_reader
from flows.extract.warc.http import RecordError, http_body

HEADER_ROOM = 65536  # a record may exceed the page limit by its WARC and HTTP headers
_CORRUPT = RejectReason.CORRUPT_RECORD
_cursors = threading.local()  # a worker thread's place in a file compressed as a whole


def read_payload(path: str, meta: Mapping[str, str], limit: int) -> bytes:
    """The page of the record ``meta`` locates: a response's body, a resource's bytes."""
    at, scan, nth = (int(meta[k]) for k in ("warc_offset", "warc_scan", "warc_nth"))
    where = f"offset {at} of {path}" if meta.get("warc_direct") else f"record {nth} after {scan}"
    try:
        if not meta.get("warc_direct"):
            return _payload(_by_place(path, scan, nth), meta, limit, f"{where} of {path}")
        with open(path, "rb") as fh:
            reader = open_reader(fh, compression(fh.read(4)), at)
            records = iter(ArchiveIterator(reader, parse_http=False))  # strict: see below
            payload = _payload(next(records, None), meta, limit, where)
            try:
                next(records, None)
            except OSError as exc:  # bytes that are no record after it, inside its own frame
                if isinstance(reader, WarcReader) and reader.frame_start_position() == at:
                    what = f"its Content-Length ends before its gzip or zstd frame at {where}"
                    raise RecordError(_CORRUPT, what) from exc
            return payload
    except OSError as exc:
        raise RecordError(_CORRUPT, f"unreadable record at {where}: {exc}") from exc


def _payload(record: WarcRecord | None, meta: Mapping[str, str], limit: int, where: str) -> bytes:
    """The record's block, checked whole and against its digest (if any); a response's body."""
    if record is None or (record.record_id or "") != meta.get("warc_id", ""):
        raise RecordError(_CORRUPT, f"no such record at {where}: the file changed since")
    expected = record.content_length
    if expected > limit + HEADER_ROOM:
        raise RecordError(RejectReason.TOO_LARGE, f"record of {expected} bytes at {where}")
    if "WARC-Block-Digest" in record.headers and not record.verify_block_digest(consume=False):
        raise RecordError(_CORRUPT, f"its block digest does not match at {where}")
    block = record.reader.read(expected)
    if len(block) < expected:
        raise RecordError(_CORRUPT, f"truncated record at {where}: {len(block)} of {expected}")
    if record.record_type == WarcRecordType.resource:
        return block
    return http_body(record, block, limit, where)


def _by_place(path: str, scan: int, nth: int) -> WarcRecord | None:
    """The ``nth`` record after ``scan`` (lenient, as the index counts), on from the last."""
    key, cursor = (path, scan), getattr(_cursors, "cursor", None)
    if cursor is None or cursor[0] != key or cursor[1] > nth:
        fh = open(path, "rb")  # noqa: SIM115 (kept open between records; closed with its cursor)
        if cursor is not None:
            cursor[3].close()
        reader = open_reader(fh, compression(fh.read(4)), scan)
        cursor = [key, 0, iter(ArchiveIterator(reader, parse_http=False, quirks_mode=True)), fh]
        _cursors.cursor = cursor
    records: Iterator[WarcRecord] = cursor[2]
    for record in records:
        cursor[1] += 1
        if cursor[1] > nth:
            return record
    return None
