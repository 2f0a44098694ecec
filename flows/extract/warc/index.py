"""One pass over a WARC file with fastwarc: its inputs and where each is. Ours is only what it
lacks: going on after damage; a Content-Length that runs over records (lost in its page)."""

from __future__ import annotations

import os
import re
from collections.abc import Generator, Iterator
from typing import BinaryIO, NamedTuple

from fastwarc.warc import ArchiveIterator, WarcRecord, WarcRecordType

from flows.core.settings import MAX_INPUT_BYTES
from flows.core.units import Rejection, RejectReason, WorkUnit, internal_error
from flows.extract.warc.detect import compression, open_reader, sniff_warc
from flows.extract.warc.read import HEADER_ROOM

Found = WorkUnit | Rejection
_INPUTS = WarcRecordType.response | WarcRecordType.resource | WarcRecordType.revisit
_NOT_INPUTS = {"request", "metadata", "warcinfo", "conversion", "continuation"}
_PAGE_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "")  # '': sniffed later
_STEP_OVER = MAX_INPUT_BYTES + HEADER_ROOM  # a larger record is never a page: never inflated
_CHUNK, _CORRUPT = 1 << 20, RejectReason.CORRUPT_RECORD
_STARTS = {"gzip": b"\x1f\x8b\x08", "zstd": b"\x28\xb5\x2f\xfd", "": b"WARC/"}
# A record's first line inside another's block, ended by CRLF as writers do (not a page's LF)
_EMBEDDED = re.compile(rb"\nWARC/\d\.\d+\r\n(?=[A-Za-z][A-Za-z0-9-]*:|\Z)")
_EMBEDDED_TYPE = re.compile(rb"^WARC-Type:[ \t]*([A-Za-z-]+)", re.IGNORECASE | re.MULTILINE)


class _Held(NamedTuple):  # a record whose end only the next record shows
    at: int
    name: str
    end: int | None  # where its block ends: by its length (plain), else the frame it ended in
    length: int
    embedded: list[str]  # the records that start inside its block (compressed)
    outcome: Found | None


def index_warc(path: str, source: str, fingerprint: str = "") -> Iterator[Found]:
    """A WARC file's inputs in order; each at its offset, or its place in a shared frame."""
    with open(path, "rb") as fh:
        kind = compression(fh.read(4))
        start: int | None = 0
        while start is not None:
            start = yield from _index_from(fh, kind, start, path, source, fingerprint)


def _index_from(
    fh: BinaryIO, kind: str, start: int, path: str, source: str, fingerprint: str
) -> Generator[Found, None, int | None]:
    """The inputs from offset ``start`` on; then where to index again from, if anywhere."""
    last, nth, held, unread = None, -1, None, None
    try:
        reader = open_reader(fh, kind, start)  # (a zstd one reads the file's first frame)
        for record in ArchiveIterator(reader, parse_http=True, quirks_mode=True):
            nth += 1
            at = (reader.frame_start_position() or 0) if kind else record.stream_pos  # type: ignore[union-attr]
            own, last = at != last, at
            if held is not None:
                found, resume = _settle(fh, kind, held, at, own)
                yield from found
                held = None
                if resume is not None:
                    return resume
            name = f"{source}#{at}" if own else f"{source}#{f'{start}+' * bool(start)}record-{nth}"
            where = {"warc_offset": str(at), "warc_scan": str(start), "warc_nth": str(nth)}
            where |= {"warc_id": record.record_id or ""} | ({"warc_direct": "1"} if own else {})
            where |= {"warc_fingerprint": fingerprint} if fingerprint else {}  # of the file
            try:
                unread = classify(record, path, name, where)
            except Exception as exc:  # isolation: this record alone
                unread = internal_error(name, exc)
            left, written = record.content_length, record.headers.get("Content-Length") or ""
            length = int(written) if written.strip().isdigit() else left  # HTTP headers'
            if kind and own and left > _STEP_OVER:  # a video, or a bomb claiming terabytes
                yield from [unread] if unread else []
                return _next_record(fh, kind, at + 1)
            (size, embedded), outcome, unread = _read_block(record, bool(kind)), unread, None
            end = reader.frame_start_position() if kind else at + _header_length(fh, at) + length  # type: ignore[union-attr]
            end = None if kind and end == at else end  # within its own frame: nothing to check
            if embedded and end is None and (not own or size < left):  # records in its frame
                yield from _swallowing(name, at, length, embedded)
            elif end is not None or embedded:
                held = _Held(at, name, end, length, embedded, outcome)
            elif outcome is not None:
                yield outcome
        found, resume = _settle(fh, kind, held, None, True) if held else ([], None)
        yield from found
        return resume
    except OSError as exc:
        yield from (o for o in (held.outcome if held else None, unread) if o is not None)
        bad = start if last is None else _next_record(fh, kind, last + 1, readable=False)
        if bad is None or (last is not None and _next_record(fh, kind, bad) == bad):
            return bad  # damage inside the last record read: its reader rejects it
        yield Rejection(f"{source}#{bad}", _CORRUPT, f"unreadable record at offset {bad}: {exc}")
        return _next_record(fh, kind, bad + 1)


def _settle(
    fh: BinaryIO, kind: str, held: _Held, next_at: int | None, own: bool
) -> tuple[list[Found], int | None]:
    """A held record's outcome, now that the next one shows where it ends; where to go on."""
    if held.end is not None:  # its block must end where the next record starts
        stop = os.fstat(fh.fileno()).st_size if next_at is None else next_at
        gap = 0 if kind else stop - held.end
        if kind:  # in the frame where its block ended, with no frame in between
            fits = next_at == held.end and _next_record(fh, kind, held.at + 1, held.end) is None
        else:  # after blank lines only
            fits = 0 <= gap <= 8 and not os.pread(fh.fileno(), gap, held.end).strip(b"\r\n")
        if not fits:
            over = _next_record(fh, kind, held.at + 1, stop)
            if over is not None or next_at is not None or gap > 0:  # else: cut by the end
                what = f"runs over the record at offset {over}" if over else "does not end"
                what += f" where the next record starts (offset {stop})" * (over is None)
                what = f"record at offset {held.at}: its Content-Length {what}"
                bad = Rejection(held.name, _CORRUPT, what)
                if isinstance(held.outcome, Rejection) and held.outcome.reason == _CORRUPT:
                    bad = held.outcome  # damaged otherwise: it says so already
                return [bad], over
    elif held.embedded and next_at is not None and not own:
        return list(_swallowing(held.name, held.at, held.length, held.embedded)), None
    return ([held.outcome] if held.outcome else []), None


def classify(record: WarcRecord, path: str, name: str, where: dict[str, str]) -> Found | None:
    """One record: a unit, a rejection, or None when it is not an input."""
    header, at, kind = record.headers.get, f"at offset {where['warc_offset']}", record.record_type
    found, length = (header("WARC-Type") or "").strip(), (header("Content-Length") or "").strip()
    uri, http = (header("WARC-Target-URI") or "").strip(), record.http_headers
    url = (uri[1:-1] if uri[:1] == "<" and uri[-1:] == ">" else uri) or None  # WARC/1.0 <uri>
    no = lambda reason, what: Rejection(name, reason, what)  # noqa: E731
    if not kind & _INPUTS:
        what = f"unknown WARC-Type {found!r}" if found else "no WARC-Type"
        return None if found.lower() in _NOT_INPUTS else no(_CORRUPT, f"{what} {at}")
    if not length.isdigit():
        what = f"Content-Length {length!r}" if length else "no Content-Length"
        return no(_CORRUPT, f"{what} {at}")
    if kind == WarcRecordType.revisit:
        profile = (header("WARC-Profile") or "").rsplit("/", 1)[-1] or "no profile"
        return no(RejectReason.REVISIT, f"revisit of {url} ({profile})")
    response = kind == WarcRecordType.response
    if response and not record.is_http:
        return no(RejectReason.NOT_HTML, f"not an HTTP response: {url}")
    status = http.status_code if response else 200
    if status is None:  # an empty or blank HTTP block: no status line
        return no(_CORRUPT, f"no HTTP status in {(http.status_line or '')[:80]!r} {at}: {url}")
    if not 200 <= status < 300:
        return no(RejectReason.HTTP_STATUS, f"archived HTTP {status}: {url}")
    ctype = header("Content-Type")
    if response:
        ctype = record.http_content_type or http.get("Content-Type")
    media = (ctype or "").split(";", 1)[0].strip().lower()
    if media not in _PAGE_TYPES:
        return no(RejectReason.NOT_HTML, f"{media}: {url}")
    cut, segment = (header("WARC-Truncated") or "").strip(), header("WARC-Segment-Number") or ""
    if cut or segment.strip():  # its page would load cut: a body that ends mid-article is wrong
        what = f"payload cut by its crawler (WARC-Truncated: {cut[:40]})" if cut else ""
        what = what or f"segment {segment.strip()[:20]} of a record continued in other records"
        return no(RejectReason.TRUNCATED, f"{what} {at}: {url}")
    charset = (record.http_charset if response else None) or None
    meta = {**where, "crawled_at": header("WARC-Date") or ""}
    return WorkUnit(name, path, url=url, charset=charset, content_type=ctype or None, meta=meta)


def _read_block(record: WarcRecord, scan: bool) -> tuple[int, list[str]]:
    """The rest of the block's size; with ``scan``, the WARC-Type of each record inside it."""
    if not scan:
        return record.reader.consume(), []
    size, kinds, buf, done = 0, [], b"", 0
    while True:
        chunk = record.reader.read(_CHUNK)
        size, buf = size + len(chunk), buf + chunk
        cut = len(buf) - HEADER_ROOM * bool(chunk)  # a start nearer the end: next round
        for match in _EMBEDDED.finditer(buf, done):
            if match.start() >= cut:
                break
            head = buf[match.end() : match.end() + HEADER_ROOM].split(b"\r\n\r\n", 1)[0]
            found = _EMBEDDED_TYPE.search(head)
            kinds.append(found.group(1).decode().lower() if found else "")
            done = match.start() + 1
        if not chunk:
            return size, kinds
        buf, done = buf[max(0, cut) :], max(0, done - max(0, cut))


def _swallowing(name: str, at: int, length: int, kinds: list[str]) -> Iterator[Rejection]:
    """A record that runs over others in its gzip member, and each input it ran over."""
    what = f"its Content-Length {length} runs over the start of {len(kinds)} more record(s)"
    yield Rejection(name, _CORRUPT, f"record at offset {at}: {what} inside its gzip member")
    for k, kind in enumerate(kinds, start=1):
        if kind not in _NOT_INPUTS:
            what = f"{kind or 'record with no WARC-Type'} {k} inside the block of {name}"
            yield Rejection(f"{name}+swallowed-{k}", _CORRUPT, what)


def _header_length(fh: BinaryIO, at: int) -> int:
    """The length of the WARC headers of the plain record at ``at``, blank line included."""
    head = os.pread(fh.fileno(), HEADER_ROOM, at)
    ends = [i + n for i, n in ((head.find(b"\r\n\r\n"), 4), (head.find(b"\n\n"), 2)) if i >= 0]
    return min(ends, default=len(head))


def _next_record(
    fh: BinaryIO, kind: str, start: int, stop: int | None = None, readable: bool = True
) -> int | None:
    """The first record's offset from ``start`` (before ``stop``), found by its bytes."""
    fd, pos, marker = fh.fileno(), start, _STARTS[kind]
    while stop is None or pos < stop:
        span = _CHUNK if stop is None else min(_CHUNK, stop - pos)
        chunk = os.pread(fd, span + 512, pos)
        at = chunk.find(marker)
        while 0 <= at < span:
            line = kind or pos + at == 0 or os.pread(fd, 1, pos + at - 1) == b"\n"
            if line and (not readable or kind == "zstd" or sniff_warc(chunk[at : at + 512])):
                return pos + at  # (a zstd frame may need the file's dictionary: not sniffed)
            at = chunk.find(marker, at + 1)
        if len(chunk) <= span:
            return None
        pos += span
    return None
