"""What a response is, from its Content-Type and its first bytes: feed, sitemap or page."""

from __future__ import annotations

import enum
import re

GZIP_MAGIC = b"\x1f\x8b"
_FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml", "application/rdf+xml"})
_FEED_ROOTS = frozenset({"rss", "rdf", "feed"})  # rdf:RDF is RSS 0.90 / 1.0
_SITEMAP_ROOTS = frozenset({"urlset", "sitemapindex"})
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/plain"})
_PROLOG_SKIP = re.compile(
    r"\s+|<\?.*?\?>|<!--.*?-->|<!DOCTYPE(?:[^\[>]*\[.*?\])?[^>]*>", re.DOTALL | re.IGNORECASE
)
_TAG = re.compile(r"<([A-Za-z_][\w.:-]*)")
_SNIFF_BYTES = 8192


class Kind(enum.Enum):
    FEED = "feed"
    SITEMAP = "sitemap"
    PAGE = "page"
    OTHER = "other"


def _head_text(body: bytes) -> str:
    head = body[:_SNIFF_BYTES]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", errors="ignore")
    return head.decode("latin-1").removeprefix("\xef\xbb\xbf")  # keeps ASCII markup intact


def root_element(body: bytes) -> str | None:
    """Local name of the first element, lower-cased (``rdf:RDF`` -> ``rdf``), if any."""
    text = _head_text(body)
    pos = 0
    while (match := _PROLOG_SKIP.match(text, pos)) is not None and match.end() > pos:
        pos = match.end()
    tag = _TAG.match(text, pos) or _TAG.search(text, pos)
    if tag is None:
        return None
    return tag.group(1).rsplit(":", 1)[-1].lower()


def classify(content_type: str | None, body: bytes) -> Kind:
    """What a fetched body is (page, feed, sitemap...), by its root element before its header."""
    root = root_element(body)
    if root == "html":  # whatever the header claims (an error page served as a feed)
        return Kind.PAGE
    if root in _FEED_ROOTS or (content_type in _FEED_TYPES and root not in _SITEMAP_ROOTS):
        return Kind.FEED
    if root in _SITEMAP_ROOTS:
        return Kind.SITEMAP
    if content_type is None or content_type in _HTML_TYPES:
        return Kind.PAGE
    return Kind.OTHER
