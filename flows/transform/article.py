"""Pure transform: one raw work unit in, an Article or a Rejection out. No I/O beyond reading it."""

from __future__ import annotations

import copy
import hashlib
import logging
import re
from datetime import UTC, datetime, timedelta

import lxml.html
import trafilatura
from htmldate import find_date
from lxml import etree

from flows.core.dates import is_plausible
from flows.core.settings import (
    MIN_BODY_CHARS,
    MIN_PARAGRAPH_CHARS,
    TRAFILATURA_OPTIONS,
)
from flows.core.units import Article, Rejection, RejectReason, WorkUnit
from flows.core.urls import BadURL, absolute_http_url, canonical_url
from flows.extract.archive import HeaderError, looks_archived, parse_archived
from flows.transform.about import About
from flows.transform.decode import DecodeError, binary_kind, decode_html, looks_binary
from flows.transform.metadata import (
    PageMeta,
    collapse,
    first_body_image,
    first_h1,
    page_metadata,
    remove_controls,
    title_tag,
)

log = logging.getLogger(__name__)

# An HTML page, or a fragment of one (saved without <html> or <body>): any element of HTML's
# own in its first 8 KB. JSON, CSV and plain text have none.
_HTML_HINT = re.compile(
    r"<(!doctype\s+html|html|head|body|p|div|span|article|section|main|header|nav|meta|"
    r"title|link|script|style|noscript|table|tr|td|center|font|b|i|u|em|strong|a|br|hr|img|"
    r"h[1-6]|ul|ol|li|dl|dt|dd|form|iframe|blockquote|pre|frameset|frame)[\s>/]",
    re.I,
)
# An XML declaration names an encoding that lxml refuses in text already decoded.
_XML_DECLARATION = re.compile(r"^\s*<\?xml\b[^>]*>")
_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s")
MAX_FALLBACK_TITLE = 120  # a title made from the body's first sentence is cut to this
_DATE_ONLY = re.compile(
    r"^\s*\d{1,4}[/.\-]\d{1,2}[/.\-]\d{1,4}(\s*[-–|,]?\s*\d{1,2}:\d{2}(:\d{2})?)?\s*$"
)
_SHARE_LABEL = re.compile(
    r"^\s*(分享|分享到|share|partager|compartir|teilen|condividi)\s*[:：]?\s*$", re.I
)
_HEAD_CHARS = 8192  # where saved pages keep the comment that records their address
_CONTENT_ROOTS = ('.//*[@itemprop="articleBody"]', ".//article", ".//main")
_WEST, _EAST = timedelta(hours=12), timedelta(hours=14)  # the time zones' extremes
# trafilatura's metadata for a fallback title only: its date is not used, so the quick search.
_QUICK_DATES = {"original_date": True, "extensive_search": False}


class Reject(Exception):
    """Raised inside the transform to turn a unit into a Rejection."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def content_hash(url: str, ts: datetime | None, title: str, body: str, image: str | None) -> str:
    """A hash of the five columns: the same article gives the same hash, whatever its source."""
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
ELEMENT_CLASSES = etree.ElementDefaultClassLookup(
    element=lxml.html.HtmlElement,
    comment=lxml.html.HtmlComment,
    pi=lxml.html.HtmlProcessingInstruction,
    entity=lxml.html.HtmlEntity,
)


def parse_html(text: str) -> lxml.html.HtmlElement:
    """Parse once; the same tree feeds our metadata pass and trafilatura."""
    text = _XML_DECLARATION.sub("", text, count=1)
    parser = etree.HTMLParser(remove_comments=True, remove_pis=True, collect_ids=False)
    parser.set_element_class_lookup(ELEMENT_CLASSES)
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
    if doc is None:
        text = ""
    elif isinstance(doc, dict):  # its as_dict=True form, should the options ever ask for it
        text = doc.get("text") or ""
    else:
        text = doc.text or ""
    return [line for line in (collapse(line) for line in text.splitlines()) if line]


def extract_body(
    tree: lxml.html.HtmlElement, url: str | None, *, item: bool = False, title: str = ""
) -> str:
    """The article text as trafilatura's defaults extract it, a line per paragraph; empty for
    navigation. A short text without a sentence is navigation when it is an archived item's
    (its share block, a teaser's link list) or when every word of it is in the page's link
    labels or its headline (a menu under a title); otherwise a page's text is kept as
    trafilatura keeps it (a photo post's caption)."""
    lines = _extract_lines(tree, url, TRAFILATURA_OPTIONS)
    if any(map(_is_paragraph, lines)) or sum(map(_weight, lines)) >= MIN_BODY_CHARS:
        return "\n".join(lines)
    labels = " ".join(a.text_content() for a in tree.iter("a"))
    if item or _words("\n".join(lines)) <= _words(labels) | _words(title):
        return ""
    return "\n".join(lines)


def _words(text: str) -> set[str]:
    return {word.casefold() for word in _WORD.findall(text)}


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
    # trafilatura's own call (extensive search, the original date first), bounded by the run's
    # start instead of today.
    return find_date(
        tree,
        extensive_search=True,
        original_date=True,
        outputformat="%Y-%m-%d",
        url=url,
        max_date=(run_start or datetime.now(UTC)).strftime("%Y-%m-%d"),
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


def _transform(unit: WorkUnit, raw: bytes, run_start: datetime | None) -> Article:
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
        # Looked for in the decoded text, so a UTF-16 page is recognised as well.
        if not (is_html_type or _HTML_HINT.search(text[:8192]) or unit.title):
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
    title_source: str | None = "header" if archived else "source"
    title = collapse(title)
    if archived and not title:
        raise Reject(RejectReason.EMPTY_TITLE, "the archive header names no headline")
    if not title:
        title, title_source = meta.title or "", meta.title_source
    if published is None and not archived:
        published, ts_source = _choose_date(tree, url, meta, run_start)
    elif published is None and meta.published is not None:
        published, ts_source = meta.published, meta.published_source
    implausible = implausible or meta.implausible
    if published is None:
        ts_source = f"implausible:{implausible}" if implausible else None

    image = meta.image
    if archived:
        strip_item_chrome(tree)
    if image is None:
        image = absolute_http_url(first_body_image(_content_root(tree)), url)

    body = extract_body(tree, url, item=archived, title=title)
    if not body:
        raise Reject(RejectReason.EMPTY_BODY, "no article text after removing boilerplate")
    if not title:
        # A page with a body is never lost for its title (trafilatura's metadata pass reads
        # the tree last, after everything that needs it whole).
        title, title_source = fallback_title(tree, url, body)
    if archived:  # a feed item's body often repeats its headline; a page's is left whole
        body = drop_headline(body, title)
    article = Article(
        url=url,
        timestamp=published,
        title=title,
        body=body,
        image=image,
        source=unit.source,
        content_hash=content_hash(url, published, title, body, image),
        timestamp_source=ts_source,
        title_source=title_source,
        seq=unit.seq,
        fingerprint=unit.fingerprint,
    )
    describe(article, meta.about)
    return article


def describe(article: Article, about: About) -> None:
    """Fill the article's article_meta columns from what its page says. The language is the
    page's statement here; its batch confirms or overrules it, and signs the body
    (``settle_languages``, ``sign_articles``)."""
    article.language = about.language
    article.author, article.sitename = about.author, about.sitename
    article.description = about.description
    article.categories, article.tags = about.categories or None, about.tags or None


def _same_day(instant: datetime, day: datetime) -> bool:
    """``day`` is the date of ``instant`` in some time zone (UTC-12 to UTC+14)."""
    return (instant - _WEST).date() <= day.date() <= (instant + _EAST).date()


def _choose_date(
    tree: lxml.html.HtmlElement, url: str, meta: PageMeta, run_start: datetime | None
) -> tuple[datetime | None, str | None]:
    """htmldate's day (trafilatura's choice: the original publication date) decides the day;
    the first timestamp the page states on that day gives the time, and without htmldate's
    day the page's first timestamp is taken."""
    day = _page_date(tree, url, run_start)
    dropped = meta.implausible_at
    if day and dropped and (day.year, day.month) == (dropped.year, dropped.month):
        # htmldate cut the page's own implausible date short to its year and month, which
        # makes it fit the window: it is the same untrusted date.
        day = None
    if day is None:
        return meta.published, meta.published_source
    for source, stated in meta.dates:
        if _same_day(stated, day):
            return stated, source
    if is_plausible(day, run_start):
        return day, "htmldate"
    return None, None


def first_sentence(body: str, limit: int = MAX_FALLBACK_TITLE) -> str:
    """The body's first sentence, cut at a word boundary to at most ``limit`` characters."""
    line = body.split("\n", 1)[0].strip()
    if match := _SENTENCE_END.search(line):
        line = line[: match.start()]
    if len(line) <= limit:
        return line
    cut = line[: limit + 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else line[:limit]).rstrip(" ,;:-–—")


def fallback_title(tree: lxml.html.HtmlElement, url: str, body: str) -> tuple[str, str]:
    """The best title a page without a stated headline gives, and where it came from:
    trafilatura's metadata, og:title, <title>, the first <h1>, and last the body's first
    sentence (which a body always has)."""
    try:
        found = trafilatura.extract_metadata(tree, default_url=url, date_config=_QUICK_DATES)
        traf_title = collapse(found.title) if found is not None else ""
    except (ValueError, TypeError, AttributeError):  # a library's bad day is no lost page
        traf_title = ""
    og = next((el.get("content") for el in tree.iterfind('.//meta[@property="og:title"]')), "")
    for source, candidate in (
        ("trafilatura", traf_title),
        ("og:title", collapse(og)),
        ("title", title_tag(tree)),
        ("h1", first_h1(tree)),
    ):
        if candidate:
            return candidate, source
    return first_sentence(body), "body"


def transform_document(
    unit: WorkUnit, raw: bytes, run_start: datetime | None = None
) -> Article | Rejection:
    """The article in ``raw``, the bytes of ``unit``, or the reason there is none.

    Never raises for bad input: every failure becomes a Rejection with a stable reason.
    ``run_start`` (the run's start; None means now) bounds the plausible dates.
    """
    try:
        return _transform(unit, raw, run_start)
    except Reject as exc:
        reason, detail = exc.reason, exc.detail
    except RecursionError:
        reason, detail = RejectReason.PARSE_ERROR, "document nesting too deep"
    except MemoryError:
        reason, detail = RejectReason.TOO_LARGE, "out of memory while processing"
    return Rejection(unit.source, reason, detail[:500], unit.seq, unit.fingerprint)
