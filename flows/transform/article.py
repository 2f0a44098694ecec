"""Pure transform: one raw work unit in, an Article or a Rejection out. No I/O beyond reading it."""

from __future__ import annotations

import copy
import hashlib
import os
import re
import zlib
from contextvars import ContextVar
from datetime import UTC, datetime

import lxml.html
import trafilatura
from htmldate import find_date
from lxml import etree

from flows.extract.archive import HeaderError, looks_archived, parse_archived
from flows.extract.warc import RecordError, read_payload
from flows.settings import (
    MAX_INPUT_BYTES,
    MIN_PARAGRAPH_CHARS,
    MIN_PRECISE_CHARS,
    RECALL_OPTIONS,
    TRAFILATURA_OPTIONS,
)
from flows.transform.dates import EARLIEST, is_plausible, latest
from flows.transform.decode import DecodeError, binary_kind, decode_html, looks_binary
from flows.transform.metadata import (
    collapse,
    first_body_image,
    page_metadata,
    remove_controls,
)
from flows.transform.urls import BadURL, absolute_http_url, canonical_url
from flows.units import Article, Rejection, RejectReason, WorkUnit

_HTML_HINT = re.compile(rb"<(!doctype\s+html|html|head|body|p|div|article|meta|title)[\s>/]", re.I)
_DATE_ONLY = re.compile(
    r"^\s*\d{1,4}[/.\-]\d{1,2}[/.\-]\d{1,4}(\s*[-–|,]?\s*\d{1,2}:\d{2}(:\d{2})?)?\s*$"
)
_SHARE_LABEL = re.compile(
    r"^\s*(分享|分享到|share|partager|compartir|teilen|condividi)\s*[:：]?\s*$", re.I
)
# The run's start bounds plausible dates; transform_at sets it, so that transform_unit keeps
# its one-argument form for every caller. None means now.
_RUN_START: ContextVar[datetime | None] = ContextVar("run_start", default=None)
_HEAD_CHARS = 8192  # where saved pages keep the comment that records their address
_CONTENT_ROOTS = ('.//*[@itemprop="articleBody"]', ".//article", ".//main")


class Reject(Exception):
    """Raised inside the transform to turn a unit into a Rejection."""

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
            raise Reject(exc.reason, exc.detail) from exc
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
            raise Reject(RejectReason.READ_ERROR, f"{type(exc).__name__}: {exc}") from exc
    if len(data) > limit:
        raise Reject(RejectReason.TOO_LARGE, f"more than {limit} bytes")
    if data[:2] == b"\x1f\x8b":
        # Decompress incrementally so a gzip bomb stops at the limit instead of filling memory.
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out = inflater.decompress(data, limit + 1)
        except zlib.error as exc:
            raise Reject(RejectReason.DECODE_ERROR, f"bad gzip data: {exc}") from exc
        if len(out) > limit:
            raise Reject(RejectReason.TOO_LARGE, f"gzip expands past {limit} bytes")
        if not inflater.eof:
            # zlib does not raise on a cut stream: it waits for more. A page cut short is not
            # the page: what came out would be loaded as a partial body.
            if not out:
                raise Reject(RejectReason.DECODE_ERROR, "truncated gzip data: nothing decompresses")
            raise Reject(
                RejectReason.READ_ERROR,
                f"truncated gzip stream: ends after {len(out)} bytes, before its end marker",
            )
        data = out
    return data


def content_hash(url: str, ts: datetime | None, title: str, body: str, image: str | None) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in (url, ts.isoformat() if ts else "", title, body, image or ""):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


# lxml.html's parser picks each element's class in Python (HtmlElementClassLookup.lookup),
# once for every element object trafilatura touches, a share of a page's CPU that bench/
# shows. The same classes chosen in C give the same tree and the same extraction; only form
# fields lose their lxml.html subclasses (FormElement, InputElement...), which none of the
# extraction uses.
_ELEMENT_CLASSES = etree.ElementDefaultClassLookup(
    element=lxml.html.HtmlElement,
    comment=lxml.html.HtmlComment,
    pi=lxml.html.HtmlProcessingInstruction,
    entity=lxml.html.HtmlEntity,
)


def parse_html(text: str) -> lxml.html.HtmlElement:
    """Parse once; the same tree feeds our metadata pass and trafilatura."""
    parser = etree.HTMLParser(remove_comments=True, remove_pis=True, collect_ids=False)
    parser.set_element_class_lookup(_ELEMENT_CLASSES)
    try:
        tree = lxml.html.document_fromstring(text, parser=parser)
    except (etree.ParserError, ValueError) as exc:
        raise Reject(RejectReason.PARSE_ERROR, f"HTML parser: {exc}") from exc
    fatal = [e for e in parser.error_log if e.level_name == "FATAL"]
    if fatal:
        raise Reject(RejectReason.PARSE_ERROR, f"HTML parser: {fatal[0].message}")
    return tree


def strip_item_chrome(tree: lxml.html.HtmlElement) -> None:
    """Archived item bodies carry a dated div and a share block that are not article text."""
    for el in list(tree.iter("div", "span", "p", "time")):
        text = el.text_content()
        if len(text) > 80:
            continue
        if _DATE_ONLY.match(text) and el.getparent() is not None:
            el.drop_tree()
        elif _SHARE_LABEL.match(text) and (parent := el.getparent()) is not None:
            # The label's container holds the share links too: drop the whole block.
            block = parent if parent.tag != "body" else el
            if block.getparent() is not None:
                block.drop_tree()


def _weight(line: str) -> int:
    """Length with CJK characters counted double (each carries about two Latin ones)."""
    return len(line) + sum(1 for c in line if ord(c) >= 0x2E80)


def _is_paragraph(line: str) -> bool:
    """Sentence length."""
    return len(line) >= MIN_PARAGRAPH_CHARS or _weight(line) >= MIN_PARAGRAPH_CHARS


def _extract_lines(tree: lxml.html.HtmlElement, url: str | None, options: dict) -> list[str]:
    doc = trafilatura.bare_extraction(tree, url=url, **options)
    text = (doc.text or "") if doc is not None else ""
    return [line for line in (collapse(line) for line in text.splitlines()) if line]


def extract_body(tree: lxml.html.HtmlElement, url: str | None) -> str:
    lines = _extract_lines(tree, url, TRAFILATURA_OPTIONS)
    # Precision mode sometimes keeps only a fragment (or nothing) of an unusually laid-out
    # article. A short text is checked against recall mode, which wins when precision kept
    # less than half of it. trafilatura copies the tree it is given, so both see the same.
    precise = sum(_weight(line) for line in lines)
    if precise < MIN_PRECISE_CHARS:
        recalled = _extract_lines(tree, url, RECALL_OPTIONS)
        if precise < sum(_weight(line) for line in recalled) / 2:
            lines = recalled
    # Menus and link lists come out as short lines only: no sentence, no article.
    if not any(_is_paragraph(line) for line in lines):
        return ""
    return "\n".join(lines)


def drop_headline(body: str, title: str) -> str:
    """The headline is the title column, not the body's first paragraph."""
    first, _, rest = body.partition("\n")
    if rest and first.casefold() == title.casefold():
        return rest
    return body


def _content_root(tree: lxml.html.HtmlElement) -> lxml.html.HtmlElement:
    for xpath in _CONTENT_ROOTS:
        found = tree.find(xpath)
        if found is not None:
            return found
    return tree


def _find_date(tree: lxml.html.HtmlElement, url: str, run_start: datetime | None) -> str | None:
    return find_date(
        tree,
        extensive_search=True,
        original_date=True,
        outputformat="%Y-%m-%d",
        url=url,
        min_date=EARLIEST.strftime("%Y-%m-%d"),
        max_date=latest(run_start).strftime("%Y-%m-%d"),
    )


def _page_date(
    tree: lxml.html.HtmlElement, url: str, run_start: datetime | None
) -> datetime | None:
    """htmldate's extensive search (trafilatura's own), original date first, at midnight UTC."""
    try:
        found = _find_date(tree, url, run_start)
    except (ValueError, OverflowError):
        # htmldate gives up on an impossible date in a <meta> (an offset of +99:00). Our own
        # pass has read the metas already: search the rest of the page without them.
        bare = copy.deepcopy(tree)
        for el in list(bare.iter("meta")):
            el.drop_tree()
        try:
            found = _find_date(bare, url, run_start)
        except (ValueError, OverflowError):
            return None
    return datetime.strptime(found, "%Y-%m-%d").replace(tzinfo=UTC) if found else None


def _transform(unit: WorkUnit) -> Article:
    run_start = _RUN_START.get()
    raw = read_bytes(unit)
    if not raw.strip():
        raise Reject(RejectReason.EMPTY_FILE, "no bytes" if not raw else "only whitespace")
    if looks_binary(raw):
        raise Reject(RejectReason.NOT_HTML, binary_kind(raw))
    if raw.startswith(b"filedesc://"):
        raise Reject(RejectReason.NOT_HTML, "an ARC file (the format before WARC): not read")
    try:
        text, _encoding = decode_html(raw, unit.charset)
    except DecodeError as exc:
        raise Reject(RejectReason.DECODE_ERROR, str(exc)) from exc

    url, title, published, ts_source = unit.url, unit.title, unit.published, unit.published_source
    archived = looks_archived(text)
    if archived:
        try:
            item = parse_archived(text, run_start)
        except HeaderError as exc:
            raise Reject(exc.reason, str(exc)) from exc
        url, title, published, ts_source = item.url, item.title, item.published, "header"
        html_text = item.body_html
    else:
        is_html_type = (unit.content_type or "").lower().find("html") >= 0
        if not (is_html_type or _HTML_HINT.search(raw[:8192]) or unit.title):
            raise Reject(RejectReason.NOT_HTML, "neither an archived item nor an HTML page")
        html_text = text
    if not html_text.strip():
        raise Reject(RejectReason.EMPTY_BODY, "the item has no HTML body")
    html_text = remove_controls(html_text)
    # A source's date outside the window is dropped; the page may still give a plausible one.
    implausible = None
    if published is not None and not is_plausible(published, run_start):
        implausible, published = ts_source or "source", None

    tree = parse_html(html_text)
    meta = page_metadata(tree, base_url=url, head=html_text[:_HEAD_CHARS], run_start=run_start)
    url = url or meta.url
    if not url:
        if meta.invalid_canonical:
            raise Reject(
                RejectReason.BAD_URL,
                f"canonical link is no http(s) URL: {meta.invalid_canonical[:200]!r}, "
                "and the page and the source give no other",
            )
        raise Reject(RejectReason.NO_URL, "the page states no address, and the source gives none")
    try:
        url = canonical_url(url)
    except BadURL as exc:
        raise Reject(RejectReason.BAD_URL, str(exc)) from exc
    # An archive header is the only truth for its title; other sources fall back to the page.
    title = collapse(title) if archived else collapse(title) or meta.title
    if not title:
        raise Reject(RejectReason.EMPTY_TITLE, "the headline is empty")
    if published is None and meta.published is not None:
        published, ts_source = meta.published, meta.published_source
    implausible = implausible or meta.implausible
    if published is None and not archived:
        published = _page_date(tree, url, run_start)
        dropped = meta.implausible_at
        if (
            published
            and dropped
            and (published.year, published.month)
            == (
                dropped.year,
                dropped.month,
            )
        ):
            # htmldate cut the page's own implausible date short to its year and month, which
            # makes it fit the window: it is the same untrusted date.
            published = None
        ts_source = "htmldate" if published is not None else None
    if published is None:
        ts_source = f"implausible:{implausible}" if implausible else None

    image = meta.image
    if archived:
        strip_item_chrome(tree)
    if image is None:
        image = absolute_http_url(first_body_image(_content_root(tree)), url)

    body = drop_headline(extract_body(tree, url), title)
    if not body:
        raise Reject(RejectReason.EMPTY_BODY, "no article text after removing boilerplate")
    return Article(
        url=url,
        timestamp=published,
        title=title,
        body=body,
        image=image,
        source=unit.source,
        content_hash=content_hash(url, published, title, body, image),
        timestamp_source=ts_source,
        seq=unit.seq,
        fingerprint=unit.fingerprint,
    )


def transform_unit(unit: WorkUnit) -> Article | Rejection:
    """Never raises for bad input: every failure becomes a Rejection with a stable reason."""
    try:
        return _transform(unit)
    except Reject as exc:
        reason, detail = exc.reason, exc.detail
    except RecursionError:
        reason, detail = RejectReason.PARSE_ERROR, "document nesting too deep"
    except MemoryError:
        reason, detail = RejectReason.TOO_LARGE, "out of memory while processing"
    return Rejection(unit.source, reason, detail[:500], unit.seq, unit.fingerprint)


def transform_at(unit: WorkUnit, run_start: datetime | None) -> Article | Rejection:
    """``transform_unit`` for a run that started at ``run_start``, which bounds the plausible
    dates (``transform_unit`` alone takes now)."""
    token = _RUN_START.set(run_start)
    try:
        return transform_unit(unit)
    finally:
        _RUN_START.reset(token)
