"""The values that travel through the pipeline: work units in, articles or rejections out."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar

log = logging.getLogger(__name__)

V_co = TypeVar("V_co", covariant=True)


class Lookup(Protocol[V_co]):
    """What earlier runs saw of one source or URL, asked one at a time: a dict in tests,
    flows.load.known's DuckDB lookups in a run (so nothing holds the whole warehouse's state)."""

    def get(self, key: str, /) -> V_co | None:
        """The value for ``key``, or None when nothing is known of it."""


@dataclass(slots=True)
class WorkUnit:
    """One input item. Bytes are read lazily from ``path`` in the worker, or carried in ``data``.

    ``url``/``title``/``published`` are what the source already knows (a feed item, an
    archive header read later by the transform, an HTTP response); known beats guessed.
    """

    source: str
    path: str | None = None
    data: bytes | None = None
    url: str | None = None
    title: str | None = None
    published: datetime | None = None
    published_source: str | None = None
    charset: str | None = None  # from an HTTP Content-Type header
    content_type: str | None = None
    fingerprint: str | None = None  # cheap change detector (size:mtime for files, ETag...)
    seq: int = 0  # discovery order: on equal timestamps the later ingest wins
    meta: dict[str, str] = field(default_factory=dict)
    size: int | None = None  # bytes of a file, as discovery found it: batches are cut by size


@dataclass(slots=True)
class BatchResult:
    """What a worker reports of one batch (flows/executors/batch.py); rows are in its parts."""

    batch_id: str
    items: int = 0
    articles: int = 0
    rejected: int = 0
    articles_path: str | None = None
    rejects_path: str | None = None
    reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    worker: str = ""  # host:pid that ran the batch
    started_at: float = 0.0  # epoch seconds when the worker began it: the run's fixed cost ends
    resumed: int = 0  # outcomes taken from a killed run's finished batches (flows/load/resume.py)


@dataclass(slots=True)
class Article:
    url: str
    timestamp: datetime | None
    title: str
    body: str
    image: str | None
    source: str
    content_hash: str
    timestamp_source: str | None
    seq: int = 0
    fingerprint: str | None = None
    crawled_at: datetime | None = None  # a WARC record's WARC-Date: lineage only
    # Where the title came from: header, source (a feed), the page's og:title, jsonld,
    # twitter:title, h1, heading or title, or a fallback (trafilatura, og:title, title, h1,
    # body).
    title_source: str | None = None
    # Beside the five columns (the article_meta table and the story signature); empty when
    # the page says nothing or reading it failed, which never costs the article.
    language: str | None = None
    author: str | None = None
    sitename: str | None = None
    description: str | None = None
    categories: list[str] | None = None
    tags: list[str] | None = None
    word_count: int | None = None
    minhash: list[int] | None = None  # flows/transform/signature.py


@dataclass(slots=True)
class Rejection:
    source: str
    reason: str  # stable code: empty_body, bad_url, no_url, decode_error, not_html, ...
    detail: str = ""
    seq: int = 0
    fingerprint: str | None = None


class RejectReason(StrEnum):
    """Stable reject codes (DESIGN.md §2), the only place they are spelled in Python.
    Users filter on these; never rename one."""

    EMPTY_FILE = "empty_file"
    EMPTY_BODY = "empty_body"
    EMPTY_TITLE = "empty_title"
    BAD_URL = "bad_url"
    NO_URL = "no_url"
    BAD_HEADER = "bad_header"
    BAD_TIMESTAMP = "bad_timestamp"
    DECODE_ERROR = "decode_error"
    NOT_HTML = "not_html"
    PARSE_ERROR = "parse_error"
    TOO_LARGE = "too_large"
    READ_ERROR = "read_error"
    TIMEOUT = "timeout"
    HTTP_ERROR = "http_error"
    FETCH_ERROR = "fetch_error"  # connection failures that outlived their retries
    BLOCKED_ADDRESS = "blocked_address"
    ROBOTS_DISALLOWED = "robots_disallowed"
    # An exception no rule foresaw (a library's bug on this input): the input alone is
    # rejected; a run where too many inputs end here fails after loading the others.
    INTERNAL_ERROR = "internal_error"
    # The host made us wait past the run's cap (Retry-After, 429/5xx backoff): tried again
    # on the next run.
    HOST_BACKOFF = "host_backoff"

    REVISIT = "revisit"  # a WARC revisit record: it points at an earlier capture, no page
    HTTP_STATUS = "http_status"  # an archived response whose status is not 2xx
    CORRUPT_RECORD = "corrupt_record"  # a WARC record that cannot be read (file#offset)
    # A WARC record that holds only part of its page: cut by its crawler (WARC-Truncated),
    # or the first segment of a record continued in other records.
    TRUNCATED = "truncated"


def printable(text: str) -> str:
    """``text`` as valid Unicode, losslessly: a file name that is not UTF-8 comes from the OS
    as lone surrogates, which no Parquet or DuckDB string can hold; its raw bytes are kept
    as backslash escapes (``bad_\\xff.txt``). Valid text is returned unchanged."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # surrogates that are not escaped bytes
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


# Reasons that may pass next time: such inputs keep no fingerprint or validators, so the next
# run tries them again (sql/load/transient_rejects.sql spells the same set).
TRANSIENT_REASONS = frozenset(
    {
        RejectReason.TIMEOUT,
        RejectReason.READ_ERROR,
        RejectReason.HTTP_ERROR,
        RejectReason.FETCH_ERROR,
        RejectReason.HOST_BACKOFF,
    }
)


def row(item: Any) -> dict[str, Any]:
    """A staging Parquet row: an Article, Rejection or Validator's fields are exactly the
    columns of its schema (flows/core/schema.py; tests/test_consistency.py checks they match)."""
    return {f.name: _cell(getattr(item, f.name)) for f in fields(item)}


def _cell(value: Any) -> Any:
    if isinstance(value, list):  # a page's tags and sections: text from the page as well
        return [_cell(v) for v in value]
    return printable(value) if isinstance(value, str) else value


def internal_error(
    source: str, exc: BaseException, seq: int = 0, fingerprint: str | None = None
) -> Rejection:
    """An exception no rule foresaw, as this one input's reject (logged once, here)."""
    detail = printable(f"{type(exc).__name__}: {exc}")[:500]
    log.warning("internal error on %s: %s", printable(source), detail, exc_info=exc)
    return Rejection(source, RejectReason.INTERNAL_ERROR, detail, seq, fingerprint)
