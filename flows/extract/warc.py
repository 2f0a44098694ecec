"""Web archives (WARC 1.0/1.1, plain or one gzip member per record) as work units.

Discovery indexes a file's records from their headers (WARC and HTTP headers, never a
payload), so the flow process holds no page; each record becomes a unit that names its file
and offset, and the worker that transforms it seeks there and reads that record only. Every
``response`` and ``resource`` record is an input, and so is a ``revisit`` (rejected: it holds
no page); ``request``, ``metadata``, ``warcinfo`` and the other types are not inputs. A
record that cannot be read is rejected with its file and offset, and the index carries on at
the next record it can find.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import threading
import zlib
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import NamedTuple
from urllib.parse import urlsplit

from fastwarc.warc import ArchiveIterator, WarcRecord, WarcRecordType

from flows.core.dates import is_plausible, parse_iso
from flows.core.settings import MAX_INPUT_BYTES
from flows.core.units import Lookup, Rejection, RejectReason, WorkUnit, internal_error

GZIP_MAGIC = b"\x1f\x8b"
_INPUT_TYPES = WarcRecordType.response | WarcRecordType.resource | WarcRecordType.revisit
# Every record is indexed, inputs or not: each one's end is checked against the next's start.
_INDEXED_TYPES = WarcRecordType.any_type
# Payload types that are pages; an empty type is left to the transform's content sniffing.
_HTML_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "")
_SCAN_CHUNK = 1 << 20
_MEMBER_CHUNK = 1 << 16
_HEADER_ROOM = 65536  # a record may exceed the page limit by its WARC and HTTP headers
_STEP_OVER = MAX_INPUT_BYTES + _HEADER_ROOM  # a record larger than this is never read whole
# Lenient, as archives in the wild need (HTTP headers ended by LF alone, from old servers and
# some crawlers); the same options wherever records are read, so indexing and reading agree.
_READ: dict[str, bool] = {"quirks_mode": True}
_WARC_URL = re.compile(r"\.warc(\.gz)?$", re.IGNORECASE)
LISTING = re.compile(r"\.paths(\.gz)?$", re.IGNORECASE)  # Common Crawl's warc.paths.gz
_FILE_STATE = "warc:"  # prefix of a WARC file's fingerprint in source_state (with its count)


class RecordError(Exception):
    """A record the worker cannot read: a stable reason and a detail naming file and offset."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def sniff_warc(head: bytes) -> bool:
    """A WARC starts with ``WARC/``, or is a gzip member whose first bytes are that."""
    if head.startswith(GZIP_MAGIC):
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 16)
        except zlib.error:
            return False
    return head.startswith(b"WARC/")


def is_warc_source(source: str) -> bool:
    """An http(s) URL of a WARC file or of a paths listing, or a local paths listing."""
    path = urlsplit(source).path if "://" in source else source
    if "://" in source and not source.lower().startswith(("http://", "https://")):
        return False
    if LISTING.search(path):
        return True
    return "://" in source and bool(_WARC_URL.search(path))


def is_warc_file(path: str) -> bool:
    # Unbuffered: discovery asks this of every new local file, in the flow process; and
    # non-blocking, so a file swapped for a FIFO since its stat cannot hang the discovery.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        return sniff_warc(os.read(fd, 512))
    except OSError:
        return False
    finally:
        os.close(fd)


def file_state(fingerprint: str, records: int) -> str:
    """A WARC file's entry in source_state: its fingerprint and how many inputs it held."""
    return f"{_FILE_STATE}{fingerprint}:{records}"


def unchanged_records(known: Lookup[str], source: str, fingerprint: str) -> int | None:
    """How many inputs a WARC file loaded before held, if it has not changed since."""
    state = known.get(source)
    prefix = file_state(fingerprint, 0)[:-1]
    if state is None or not state.startswith(prefix):
        return None
    count = state[len(prefix) :]
    return int(count) if count.isdigit() else None


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def _target(record: WarcRecord) -> str | None:
    uri = (record.headers.get("WARC-Target-URI") or "").strip()
    if uri.startswith("<") and uri.endswith(">"):  # WARC/1.0 writers that quote it
        uri = uri[1:-1]
    return uri or None


def _record_id(record: WarcRecord) -> str:
    return (record.headers.get("WARC-Record-ID") or "").strip()


def _name(source: str, where: Mapping[str, str]) -> str:
    """A record's input name: ``FILE#OFFSET``, or its place after the scan's start when it is
    not at an offset of its own (a record inside a gzip member that holds several)."""
    if where.get("warc_direct"):
        return f"{source}#{where['warc_offset']}"
    scan = where["warc_scan"]
    return f"{source}#{'' if scan == '0' else scan + '+'}record-{where['warc_nth']}"


def _classify(
    record: WarcRecord, path: str, source: str, where: dict[str, str]
) -> WorkUnit | Rejection | None:
    """One indexed record: a unit, a rejection, or None when it is not an input."""
    offset = where["warc_offset"]
    name = _name(source, where)
    kind = record.record_type
    if kind not in (WarcRecordType.unknown, WarcRecordType.no_type) and not kind & _INPUT_TYPES:
        return None  # request, metadata, warcinfo, conversion, continuation
    if not kind & _INPUT_TYPES:
        found = record.headers.get("WARC-Type") or "none"
        if found.lower() in ("request", "metadata", "warcinfo", "conversion", "continuation"):
            return None
        what = "no WARC-Type" if found == "none" else f"unknown WARC-Type {found!r}"
        return Rejection(name, RejectReason.CORRUPT_RECORD, f"{what} at offset {offset}")
    length = (record.headers.get("Content-Length") or "").strip()
    if not length.isdigit():
        detail = f"Content-Length {length!r}" if length else "no Content-Length"
        return Rejection(name, RejectReason.CORRUPT_RECORD, f"{detail} at offset {offset}")
    url = _target(record)
    if kind == WarcRecordType.revisit:
        profile = (record.headers.get("WARC-Profile") or "").rsplit("/", 1)[-1]
        return Rejection(
            name, RejectReason.REVISIT, f"revisit of {url} ({profile or 'no profile'})"
        )
    charset = None
    if kind == WarcRecordType.response:
        if not record.is_http:
            return Rejection(name, RejectReason.NOT_HTML, f"not an HTTP response: {url}")
        status = record.http_headers.status_code
        if status is None:
            # An empty or blank HTTP block has no status line at all (None, not '').
            line = (record.http_headers.status_line or "")[:80]
            detail = f"no HTTP status in {line!r} at offset {offset}: {url}"
            return Rejection(name, RejectReason.CORRUPT_RECORD, detail)
        if not 200 <= status < 300:
            return Rejection(name, RejectReason.HTTP_STATUS, f"archived HTTP {status}: {url}")
        content_type = record.http_content_type or record.http_headers.get("Content-Type")
        charset = record.http_charset
    else:
        content_type = record.headers.get("Content-Type")
    if _media_type(content_type) not in _HTML_TYPES:
        return Rejection(name, RejectReason.NOT_HTML, f"{_media_type(content_type)}: {url}")
    partial = _partial(record)
    if partial:  # its page would be loaded cut: a body that ends mid-article is a wrong field
        return Rejection(name, RejectReason.TRUNCATED, f"{partial} at offset {offset}: {url}")
    return WorkUnit(
        source=name,
        path=path,
        url=url,
        charset=charset or None,
        content_type=content_type or None,
        meta={**where, "crawled_at": record.headers.get("WARC-Date") or ""},
    )


def _partial(record: WarcRecord) -> str | None:
    """Why the record holds only part of its payload, if it says so."""
    cut = (record.headers.get("WARC-Truncated") or "").strip()
    if cut:
        return f"payload cut by its crawler (WARC-Truncated: {cut[:40]})"
    segment = (record.headers.get("WARC-Segment-Number") or "").strip()
    if segment:  # continuation records are not inputs, and are not joined to it
        return f"segment {segment[:20]} of a record continued in other records"
    return None


def _next_record(
    fd: int, start: int, gzipped: bool, readable: bool, stop: int | None = None
) -> int | None:
    """The offset of the first record that starts at or after ``start`` (and before ``stop``),
    found by its bytes; ``readable``: only one whose first bytes decompress (the damaged one
    may not). Reads with ``os.pread``, so a file object reading ``fd`` keeps its place."""
    marker = b"\x1f\x8b\x08" if gzipped else b"WARC/"
    pos = start
    while stop is None or pos < stop:
        span = _SCAN_CHUNK if stop is None else min(_SCAN_CHUNK, stop - pos)
        chunk = os.pread(fd, span + 512, pos)
        at = chunk.find(marker)
        while 0 <= at < span:
            if gzipped:
                starts_line = True
            elif at:
                starts_line = chunk[at - 1] == 10
            else:
                starts_line = pos == 0 or os.pread(fd, 1, pos - 1) == b"\n"
            if starts_line and (not readable or sniff_warc(chunk[at : at + 512])):
                return pos + at
            at = chunk.find(marker, at + 1)
        if len(chunk) <= span:
            return None
        pos += span
    return None


class _Held(NamedTuple):
    """A record that starts at its own offset, held until the next one shows where it ends."""

    at: int
    length: int
    name: str
    outcome: WorkUnit | Rejection | None


def _overrun(
    fd: int, gzipped: bool, size: int, held: _Held, next_at: int | None
) -> tuple[str, int | None] | None:
    """Whether the held record's Content-Length disagrees with where its record ends (the next
    record's offset, or the end of the file): what is wrong, and where the first record that
    the library read as its content starts (None: it swallowed none). A Content-Length that
    runs on (damage, or an attack) would otherwise make the records after it that record's
    payload, and the library then looks for the next record past them: they would be lost
    uncounted, and this record loaded with their bytes as its page."""
    stop = size if next_at is None else next_at
    if gzipped:  # each record is its own gzip member: none may start inside this one's span
        swallowed = _next_record(fd, held.at + 1, True, True, stop)
        if swallowed is None:
            return None
        return (
            f"its Content-Length {held.length} runs past its gzip member, over the record "
            f"at offset {swallowed}",
            swallowed,
        )
    header = _header_length(fd, held.at)
    if header is None:
        return None  # the reader rejects a record whose headers do not end
    end = held.at + header + held.length
    gap = stop - end
    if next_at is not None and 0 <= gap <= 8 and not os.pread(fd, gap, end).strip(b"\r\n"):
        return None  # ends where the next record starts (after its blank lines)
    swallowed = _next_record(fd, held.at + 1, False, True, stop)
    if swallowed is not None:
        return f"its Content-Length {held.length} runs over the record at offset {swallowed}", (
            swallowed
        )
    if next_at is None:
        return None  # the last record, whole or cut short: the reader checks its length
    if end > stop:
        return f"its Content-Length {held.length} runs into the record at offset {stop}", None
    return f"its Content-Length {held.length} ends {gap} bytes before the next record", None


def _header_length(fd: int, at: int) -> int | None:
    """The length of the WARC headers of the plain record at ``at``, blank line included."""
    for size in (4096, _HEADER_ROOM):
        head = os.pread(fd, size, at)
        end = _blank_line_end(head)
        if end is not None or len(head) < size:
            return end
    return None


def _blank_line_end(head: bytes) -> int | None:
    """Where the headers at the start of ``head`` end, their blank line included."""
    ends = [i + n for i, n in ((head.find(b"\r\n\r\n"), 4), (head.find(b"\n\n"), 2)) if i >= 0]
    return min(ends) if ends else None


def index_warc(path: str, source: str, fingerprint: str = "") -> Iterator[WorkUnit | Rejection]:
    """The inputs of one WARC file, in file order, from its headers only.

    Each unit carries where its record is: its offset when the record starts there (a plain
    WARC, or a gzip member of its own, as the standard asks), else only its place in the
    file's sequence of records (a WARC gzipped as a whole: its records share one member, so
    no offset reaches them), with its WARC-Record-ID for the reader to check. A record at an
    offset of its own is checked against the next one (does it end where that one starts?)
    before it is given out.
    """
    with open(path, "rb") as fh:
        fd = fh.fileno()
        size = os.fstat(fd).st_size
        gzipped = os.pread(fd, 2, 0) == GZIP_MAGIC
        pos: int | None = 0
        while pos is not None:
            fh.seek(pos)
            last: int | None = None
            nth = -1
            held: _Held | None = None
            try:
                records = ArchiveIterator(fh, **_READ, record_types=_INDEXED_TYPES, parse_http=True)
                for record in records:
                    nth += 1
                    at = record.stream_pos  # absolute: the library asks the file
                    own = at != last and (not gzipped or _member_starts(fd, at))
                    last = at
                    if held is not None:
                        verdict = _overrun(fd, gzipped, size, held, at) if own else None
                        # Not own: the next record is inside held's gzip member, where no
                        # offset shows whether held ends before it.
                        shared = gzipped and not own and verdict is None
                        yield from _released(
                            held, verdict, _member_swallowed(fd, held) if shared else []
                        )
                        held = None
                        if verdict is not None and verdict[1] is not None and verdict[1] < at:
                            pos = verdict[1]  # index again from the first swallowed record
                            break
                    where = {
                        "warc_offset": str(at),
                        "warc_scan": str(pos),
                        "warc_nth": str(nth),
                        "warc_id": _record_id(record),
                    }
                    if own:
                        where["warc_direct"] = "1"
                    if fingerprint:  # the file's: what a record's earlier outcome must match
                        where["warc_fingerprint"] = fingerprint
                    try:
                        outcome = _classify(record, path, source, where)
                    except Exception as exc:  # isolation: this record alone
                        outcome = internal_error(f"{source}#{at}", exc)
                    if own and gzipped and record.content_length > _STEP_OVER:
                        # Never a page (the reader rejects it too_large): find the next
                        # member by its bytes instead of inflating this one, which may be a
                        # video, or a bomb that claims terabytes.
                        if outcome is not None:
                            yield outcome
                        pos = _next_record(fd, at + 1, gzipped, True)
                        break
                    if own:
                        held = _Held(at, _block_length(record), f"{source}#{at}", outcome)
                    else:  # no offset to check it against: its block must hold no record
                        yield from _unless_swallowing(record, outcome, _name(source, where))
                else:
                    if held is not None:
                        verdict = _overrun(fd, gzipped, size, held, None)
                        # The last record: its member may hold the records it ran over.
                        shared = gzipped and verdict is None
                        yield from _released(
                            held, verdict, _member_swallowed(fd, held) if shared else []
                        )
                        if verdict is not None and verdict[1] is not None:
                            pos = verdict[1]
                            continue
                    return
            except OSError as exc:
                if held is not None and held.outcome is not None:
                    yield held.outcome  # read before the damage: its reader checks it
                if last is None:  # the first record read from ``pos`` is unreadable
                    bad = pos
                else:
                    bad = _next_record(fd, last + 1, gzipped, False)
                    if bad is None:
                        return  # the damage is inside the last record: its reader rejects it
                    if _next_record(fd, bad, gzipped, True) == bad:
                        # The next record starts readable: the damage was in the payload of
                        # the last one, not in this one.
                        pos = bad
                        continue
                yield Rejection(
                    f"{source}#{bad}",
                    RejectReason.CORRUPT_RECORD,
                    f"unreadable record at offset {bad} of {path}: {exc}",
                )
                pos = _next_record(fd, bad + 1, gzipped, True)


# A record's first line inside another's block: ``WARC/1.x`` and CRLF, as writers end WARC
# header lines (a page that shows a record, with the LF of its text, is no record), then a
# header or the block's end.
_EMBEDDED = re.compile(rb"\nWARC/\d\.\d+\r\n(?=[A-Za-z][A-Za-z0-9-]*:|\Z)")
_EMBEDDED_TYPE = re.compile(rb"^WARC-Type:[ \t]*([A-Za-z-]+)", re.IGNORECASE | re.MULTILINE)
_NOT_INPUTS = frozenset(b"request metadata warcinfo conversion continuation".split())


def _unless_swallowing(
    record: WarcRecord, outcome: WorkUnit | Rejection | None, name: str
) -> Iterator[WorkUnit | Rejection]:
    """A record inside a gzip member that holds several (a file gzipped as a whole), whose
    end no offset shows: its outcome, unless its block holds the start of other records."""
    swallowed = _swallowed_types(record.reader.read)
    if not swallowed:
        if outcome is not None:
            yield outcome
        return
    detail = _runs_over(_block_length(record), len(swallowed))
    yield Rejection(name, RejectReason.CORRUPT_RECORD, detail)
    yield from _swallowed_rejects(name, swallowed)


def _runs_over(length: int, records: int) -> str:
    return (
        f"its Content-Length {length} runs over the start of {records} more record(s) "
        "inside its gzip member"
    )


def _swallowed_rejects(name: str, kinds: list[bytes]) -> Iterator[Rejection]:
    """A Content-Length that runs on makes the library read the records after it as that
    record's payload and go on past them: each input among them is a reject of its own (it
    has no offset to be read from), so none is lost uncounted."""
    for k, kind in enumerate(kinds, start=1):
        if kind not in _NOT_INPUTS:
            what = kind.decode("ascii", "replace") or "record with no WARC-Type"
            yield Rejection(
                f"{name}+swallowed-{k}",
                RejectReason.CORRUPT_RECORD,
                f"{what} {k} inside the block of {name}, which its Content-Length ran over",
            )


def _swallowed_types(read: Callable[[int], bytes]) -> list[bytes]:
    """The WARC-Type (lowercase; empty when cut off) of each record that starts inside the
    block that ``read`` gives, read in chunks so memory stays bounded."""
    kinds: list[bytes] = []
    buf = b""
    while True:
        chunk = read(_SCAN_CHUNK)
        buf += chunk
        end = len(buf) if not chunk else max(0, len(buf) - _HEADER_ROOM)
        for match in _EMBEDDED.finditer(buf):
            if match.start() >= end:  # read again with the next chunk, whole
                break
            head = buf[match.end() : match.end() + _HEADER_ROOM]
            head = head[: _blank_line_end(head) or len(head)]
            found = _EMBEDDED_TYPE.search(head)
            kinds.append(found.group(1).lower() if found else b"")
        if not chunk:
            return kinds
        buf = buf[end:]


def _member_swallowed(fd: int, held: _Held) -> list[bytes]:
    """``_swallowed_types`` of the block of the record that starts the gzip member at
    ``held.at``, inflated again from there (only for a member that holds more than one
    record, or the file's last). An unreadable member is left to the reader."""
    pieces = _inflated(fd, held.at)
    try:
        head = b""
        for piece in pieces:
            head += piece
            if _blank_line_end(head) is not None or len(head) >= _HEADER_ROOM:
                break
        end = _blank_line_end(head[:_HEADER_ROOM])
        if end is None:
            return []
        rest, left = head[end:], held.length

        def block(n: int) -> bytes:
            nonlocal rest, left
            if not rest and left > 0:
                rest = next(pieces, b"")
            out = rest[: min(n, left)]
            rest, left = rest[len(out) :], left - len(out)
            return out

        kinds = _swallowed_types(block)
        if kinds and left == 0:  # a record shown inside the page, or one it ran over?
            after = rest
            while not after.strip(b"\r\n") and (piece := next(pieces, b"")):
                after += piece
            if not after.strip(b"\r\n"):
                return []  # its block ends where its member does: it ran over nothing
        return kinds
    except zlib.error:
        return []


def _block_length(record: WarcRecord) -> int:
    """The record's Content-Length as written (the library's ``content_length`` counts what is
    left once it has parsed the HTTP headers)."""
    value = (record.headers.get("Content-Length") or "").strip()
    return int(value) if value.isdigit() else record.content_length


def _released(
    held: _Held, verdict: tuple[str, int | None] | None, swallowed: list[bytes]
) -> Iterator[WorkUnit | Rejection]:
    outcome = held.outcome
    if swallowed and verdict is None:
        verdict = (_runs_over(held.length, len(swallowed)), None)
    damaged = isinstance(outcome, Rejection) and outcome.reason == RejectReason.CORRUPT_RECORD
    if verdict is not None and not damaged:  # (a damaged one says what it is already)
        detail = f"record at offset {held.at}: {verdict[0]}"
        yield Rejection(held.name, RejectReason.CORRUPT_RECORD, detail)
    elif outcome is not None:
        yield outcome
    if swallowed:
        yield from _swallowed_rejects(held.name, swallowed)


def _member_starts(fd: int, offset: int) -> bool:
    """A gzip member whose first bytes are a WARC record starts at ``offset`` (not the
    library's read position inside a member that holds many records)."""
    return sniff_warc(os.pread(fd, 512, offset))


def discover_warc(
    path: str, source: str, fingerprint: str, known: Lookup[str]
) -> Iterator[WorkUnit | Rejection | FileIndexed | FileUnchanged | FileEstimate]:
    """A WARC file's inputs, then its state for source_state; or only its count, unchanged."""
    count = unchanged_records(known, source, fingerprint)
    if count is not None:
        yield FileUnchanged(source, count)
        return
    count = 0
    try:
        yield FileEstimate(source, estimate_records(path, source))
        for item in index_warc(path, source, fingerprint):
            count += 1
            yield item
    except OSError as exc:  # the file itself went away or became unreadable
        yield Rejection(source, RejectReason.READ_ERROR, f"{type(exc).__name__}: {exc}")
        return
    except Exception as exc:  # isolation: the records read so far stay inputs
        yield internal_error(source, exc)
        return  # not remembered: the next run indexes the file again
    yield FileIndexed(source, file_state(fingerprint, count))


def estimate_records(path: str, source: str, sample: int = 64) -> int:
    """How many inputs a WARC file holds, from the spacing of its first ones (the batches'
    tail is cut by it, so every core finishes at about the same time)."""
    offsets = []
    for item in index_warc(path, source):
        if isinstance(item, WorkUnit):
            offsets.append(int(item.meta["warc_offset"]))
        if len(offsets) == sample:
            break
    if len(offsets) < sample:
        return len(offsets)
    spacing = (offsets[-1] - offsets[0]) / (len(offsets) - 1)
    return max(len(offsets), round(os.path.getsize(path) / spacing)) if spacing else sample


class FileEstimate:
    """About how many inputs a WARC file holds, before it is indexed."""

    __slots__ = ("records", "source")

    def __init__(self, source: str, records: int) -> None:
        self.source, self.records = source, records


class FileUnchanged:
    """A WARC file loaded before and unchanged: its ``records`` inputs are skipped unread."""

    __slots__ = ("records", "source")

    def __init__(self, source: str, records: int) -> None:
        self.source, self.records = source, records


class FileIndexed:
    """A WARC file fully indexed: its state, written to source_state with its records."""

    __slots__ = ("fingerprint", "source")

    def __init__(self, source: str, fingerprint: str) -> None:
        self.source, self.fingerprint = source, fingerprint


def read_payload(path: str, meta: Mapping[str, str], limit: int) -> bytes:
    """The payload of the record ``meta`` locates (as ``index_warc`` wrote it): an HTTP
    response's body (decoded as a browser would) or a resource's bytes. Raises RecordError."""
    where = f"offset {meta['warc_offset']} of {path}"
    expected_id = meta.get("warc_id", "")
    try:
        found = None
        if meta.get("warc_direct"):
            with open(path, "rb") as fh:
                offset = int(meta["warc_offset"])
                member = _member(fh.fileno(), offset, limit + 2 * _HEADER_ROOM, where)
                fh.seek(offset)
                stream = fh if member is None else io.BytesIO(member)
                records = ArchiveIterator(
                    stream, **_READ, record_types=_INPUT_TYPES, parse_http=False
                )
                record = next(iter(records), None)
                if record is not None and _record_id(record) == expected_id:
                    found = _read_block(record, limit, where)
                    if member is not None:
                        _check_member_end(member, record.content_length, where)
        if found is None:  # not at its offset (or the file changed there): by its place
            scan, nth = int(meta["warc_scan"]), int(meta["warc_nth"])
            where = f"record {nth} after offset {scan} of {path}"
            record = _nth_record(path, scan, nth)
            if record is None or _record_id(record) != expected_id:
                raise RecordError(
                    RejectReason.CORRUPT_RECORD,
                    f"no such record at {where}: the file changed since it was indexed",
                )
            found = _read_block(record, limit, where)
    except OSError as exc:
        raise RecordError(
            RejectReason.CORRUPT_RECORD, f"unreadable record at {where}: {exc}"
        ) from exc
    block, is_response = found
    return http_body(block, limit, where) if is_response else block


def _read_block(record: WarcRecord, limit: int, where: str) -> tuple[bytes, bool]:
    """The record's block, checked whole; and whether it is an HTTP response."""
    if record.record_type not in (WarcRecordType.response, WarcRecordType.resource):
        raise RecordError(RejectReason.CORRUPT_RECORD, f"not a response at {where}")
    expected = record.content_length
    if expected > limit + _HEADER_ROOM:
        raise RecordError(RejectReason.TOO_LARGE, f"record of {expected} bytes at {where}")
    block = record.reader.read(expected)
    if len(block) < expected:
        raise RecordError(
            RejectReason.CORRUPT_RECORD,
            f"truncated record at {where}: {len(block)} of {expected}",
        )
    return block, record.record_type == WarcRecordType.response


def _inflated(fd: int, offset: int) -> Iterator[bytes]:
    """The gzip member at ``offset``, inflated piece by piece (none over ``_SCAN_CHUNK``
    bytes, so a bomb is never held whole), up to the member's end or the file's. Raises
    zlib.error on damaged data."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    pos = offset
    while not inflater.eof:
        data = inflater.unconsumed_tail
        if not data:
            data = os.pread(fd, _MEMBER_CHUNK, pos)
            if not data:
                return
            pos += len(data)
        piece = inflater.decompress(data, _SCAN_CHUNK)
        if piece:
            yield piece


def _member(fd: int, offset: int, cap: int, where: str) -> bytes | None:
    """The gzip member at ``offset``, inflated, when the file is gzipped and the member
    inflates to at most ``cap`` bytes (None otherwise: the record is read as a stream). A
    member cut short by the end of the file gives what it holds (the reader finds it short)."""
    if os.pread(fd, 2, offset) != GZIP_MAGIC:
        return None
    out: list[bytes] = []
    size = 0
    try:
        for piece in _inflated(fd, offset):
            size += len(piece)
            if size > cap:
                return None
            out.append(piece)
    except zlib.error as exc:
        raise RecordError(
            RejectReason.CORRUPT_RECORD, f"unreadable record at {where}: {exc}"
        ) from exc
    return b"".join(out)


def _check_member_end(member: bytes, length: int, where: str) -> None:
    """A record's Content-Length must reach the end of its gzip member (blank lines aside):
    one that stops short would have its page cut, and what follows it read as nothing. A
    member that holds more records after this one is allowed (some writers group them)."""
    header = _blank_line_end(member[:_HEADER_ROOM])
    if header is None:
        return  # the reader read the record: its headers ended
    tail = member[header + length :]
    rest = tail.lstrip(b"\r\n")
    if rest and not rest.startswith(b"WARC/"):
        cut = len(tail.rstrip(b"\r\n"))
        raise RecordError(
            RejectReason.CORRUPT_RECORD,
            f"its Content-Length {length} ends {cut} bytes before the end of its gzip member "
            f"at {where}",
        )


class _Cursor:
    """A worker thread's place in one file's sequence of records (batches hold records in
    file order, so the next record asked for is usually the next one read)."""

    def __init__(self, path: str, scan: int) -> None:
        self.key = (path, scan)
        self.file = open(path, "rb")  # noqa: SIM115 (kept open between records)
        self.file.seek(scan)
        records = ArchiveIterator(self.file, **_READ, record_types=_INDEXED_TYPES, parse_http=False)
        self.records = iter(records)
        self.next = 0


_cursors = threading.local()


def _nth_record(path: str, scan: int, nth: int) -> WarcRecord | None:
    cursor: _Cursor | None = getattr(_cursors, "cursor", None)
    if cursor is None or cursor.key != (path, scan) or cursor.next > nth:
        if cursor is not None:
            cursor.file.close()
        cursor = _cursors.cursor = _Cursor(path, scan)
    for record in cursor.records:
        cursor.next += 1
        if cursor.next > nth:
            return record
    return None


def http_body(block: bytes, limit: int, where: str) -> bytes:
    """The body of an archived HTTP response, as a browser would get it, at most ``limit + 1``
    bytes (the caller rejects more; decoding stops there, so a compression bomb cannot fill
    memory).

    Crawlers that archive what the server sent (wget, warcprox, browsertrix) keep chunked
    framing and content encodings. Chunks are always joined; gzip is left for the transform,
    which inflates it with the same checks as a gzipped file (a truncated stream is not
    loaded as a page); deflate (zlib-wrapped or raw, as browsers accept) and br are decoded
    here. A header that does not match its body (a body stored decoded under its original
    header) falls back to less decoding, as lenient readers do: the bytes then go to the
    transform as they are.
    """
    head = (
        b"WARC/1.1\r\nWARC-Type: response\r\n"
        b"Content-Type: application/http; msgtype=response\r\n"
        b"Content-Length: %d\r\n\r\n" % len(block)
    )
    encoding = _content_encoding(block)
    modes = ["all", "transfer", "none"] if encoding == "br" else ["transfer", "none"]
    error: OSError | None = None
    for mode in modes:
        try:
            http = WarcRecord.from_bytes(head + block + b"\r\n\r\n")
            http.parse_http(auto_decode=mode, quirks_mode=True)
            body = http.reader.read(limit + 1)
        except OSError as exc:
            error = error or exc
            continue
        return _inflate(body, limit, where) if encoding == "deflate" else body
    raise RecordError(RejectReason.CORRUPT_RECORD, f"bad HTTP message at {where}: {error}")


def _inflate(body: bytes, limit: int, where: str) -> bytes:
    """A deflate body, zlib-wrapped as the standard says or raw as some servers send it; the
    bytes as they are when neither fits (the header was wrong). A stream cut short is not
    the page, as with gzip."""
    for wbits in (zlib.MAX_WBITS, -zlib.MAX_WBITS):
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(body, limit + 1)
        except zlib.error:
            continue
        if out and not inflater.eof and len(out) <= limit:
            raise RecordError(
                RejectReason.READ_ERROR,
                f"truncated deflate stream at {where}: ends after {len(out)} bytes",
            )
        if out:
            return out
    return body


def _content_encoding(block: bytes) -> str:
    """The HTTP message's Content-Encoding (lower case; '' when none), from its header block."""
    ends = [at for at in (block.find(b"\r\n\r\n"), block.find(b"\n\n")) if at >= 0]
    for line in block[: min(ends, default=65536)].split(b"\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-encoding":
            return value.strip().decode("latin-1").lower()
    return ""


def crawled_at(unit: WorkUnit) -> datetime | None:
    """The record's WARC-Date: when it was crawled (lineage, never the article's timestamp)."""
    # The same parser and plausibility window as every other date: a WARC-Date in year 9999
    # (or one without an offset) is no crawl time.
    value = parse_iso(unit.meta.get("crawled_at"), naive_is_utc=True)
    return value if value is not None and is_plausible(value) else None


class DownloadedFiles:
    """Removes a downloaded WARC once the batches of all its records are done: discovery
    reads files in order, so a file is fully indexed once a batch holds a later one."""

    def __init__(self) -> None:
        self.pending: dict[str, int] = {}
        self.latest: str | None = None

    def submitted(self, units: list[WorkUnit]) -> None:
        for path in {u.path for u in units if u.path and "downloaded" in u.meta}:
            self.pending[path] = self.pending.get(path, 0) + 1
            self.latest = path

    def done(self, units: list[WorkUnit]) -> None:
        for path in {u.path for u in units if u.path and "downloaded" in u.meta}:
            self.pending[path] -= 1
        for path, left in list(self.pending.items()):
            if left == 0 and path != self.latest:
                del self.pending[path]
                with contextlib.suppress(OSError):
                    os.unlink(path)
