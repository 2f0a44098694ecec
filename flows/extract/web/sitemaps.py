"""XML sitemaps, sitemap indexes and Google News sitemaps, parsed with lxml without entity
expansion or network access."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin

from lxml import etree

from flows.core.dates import parse_iso
from flows.extract.web.xmlsafe import UnsafeXML, ensure_safe_xml

MAX_SITEMAP_URLS = 50_000  # the protocol's limit per file; more are ignored


class SitemapError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class SitemapEntry:
    loc: str  # absolute
    is_sitemap: bool  # an entry of a sitemap index
    title: str | None = None  # news:title
    published: datetime | None = None  # news:publication_date, UTC


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _namespace(tag: str) -> str:
    return etree.QName(tag).namespace or ""


def parse_w3c_datetime(value: str | None) -> datetime | None:
    """``2024-05-01``, ``2024-05-01T10:00Z``, ``2024-05-01T10:00:00.5+02:00`` -> aware UTC."""
    # A bare date or local time: the sitemap protocol implies UTC.
    return parse_iso(value, naive_is_utc=True)


def _entry(element: etree._Element, base: str, is_sitemap: bool) -> SitemapEntry | None:
    loc = next((c.text for c in element if _local(c.tag) == "loc"), None)  # not image:loc
    if not loc or not loc.strip():
        return None
    title = date = None
    for child in element.iter():
        if not isinstance(child.tag, str) or "sitemap-news" not in (_namespace(child.tag)):
            continue
        name = _local(child.tag)
        if name == "title" and title is None:
            title = (child.text or "").strip() or None
        elif name == "publication_date" and date is None:
            date = child.text
    return SitemapEntry(urljoin(base, loc.strip()), is_sitemap, title, parse_w3c_datetime(date))


def parse_sitemap(body: bytes, url: str) -> Iterator[SitemapEntry]:
    """Entries of the sitemap (or index) at ``url``, at most MAX_SITEMAP_URLS."""
    try:
        ensure_safe_xml(body)
    except UnsafeXML as exc:
        raise SitemapError(str(exc)) from exc
    events = etree.iterparse(
        io.BytesIO(body),
        events=("end",),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        recover=True,
    )
    count = 0
    try:
        for _event, element in events:
            name = _local(element.tag)
            if name not in ("url", "sitemap"):
                continue
            entry = _entry(element, url, is_sitemap=name == "sitemap")
            element.clear(keep_tail=False)
            if entry is None:
                continue
            count += 1
            if count > MAX_SITEMAP_URLS:
                return
            yield entry
    except etree.XMLSyntaxError as exc:
        if count == 0:
            raise SitemapError(f"unreadable sitemap: {exc}") from exc
