"""RSS 0.9x/1.0/2.0 and Atom feeds, read with feedparser after an XML safety check."""

from __future__ import annotations

import calendar
import hashlib
import html
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser
import lxml.html

from flows.core.dates import parse_iso
from flows.extract.web.xmlsafe import UnsafeXML, ensure_safe_xml

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


class FeedError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class FeedItem:
    link: str | None  # absolute
    title: str | None
    published: datetime | None  # aware, UTC
    content: str | None  # full content as HTML; None when the item only has a summary
    image: str | None  # absolute

    @property
    def fingerprint(self) -> str:
        """Changes when the link, title, date, content or image change."""
        parts = (
            self.link,
            self.title,
            self.published and self.published.isoformat(),
            self.content,
            self.image,
        )
        joined = "\x1f".join(part or "" for part in parts)
        return hashlib.sha256(joined.encode("utf-8")).hexdigest()

    def document(self) -> bytes:
        """The item as a small HTML document for the transform: the content in <article>,
        with title, canonical link and lead image where extractors look for them."""
        head = ['<meta charset="utf-8">', f"<title>{html.escape(self.title or '')}</title>"]
        if self.link:
            head.append(f'<link rel="canonical" href="{html.escape(self.link)}">')
        if self.image:
            head.append(f'<meta property="og:image" content="{html.escape(self.image)}">')
        page = (
            f"<!DOCTYPE html>\n<html><head>{''.join(head)}</head>"
            f"<body><article>{self.content or ''}</article></body></html>"
        )
        return page.encode("utf-8")


def parse_feed(body: bytes, url: str, charset: str | None) -> list[FeedItem]:
    """Items of the feed at ``url`` (its final URL: relative links resolve against it)."""
    try:
        ensure_safe_xml(body)
    except UnsafeXML as exc:
        raise FeedError(str(exc)) from exc
    content_type = f"application/xml; charset={charset}" if charset else "application/xml"
    parsed = feedparser.parse(
        body,
        response_headers={"content-location": url, "content-type": content_type},
        resolve_relative_uris=True,
        sanitize_html=False,  # the transform parses the HTML; keep data-src and the like
    )
    if parsed.get("bozo") and not parsed.entries:
        raise FeedError(f"unreadable feed: {parsed.get('bozo_exception')}")
    if not parsed.get("version") and not parsed.entries:
        raise FeedError("not a feed")
    return [_item(entry, url) for entry in parsed.entries]


def _absolute(base: str, link: Any) -> str | None:
    if not isinstance(link, str) or not link.strip():
        return None
    return urljoin(base, link.strip())


def _published(entry: Any) -> datetime | None:
    for key in ("published", "updated"):
        raw = entry.get(key)
        # ISO 8601 (Atom) keeps sub-second precision that struct_time drops
        if isinstance(raw, str) and (parsed := parse_iso(raw)) is not None:
            return parsed
        st = entry.get(f"{key}_parsed")
        if st is not None:  # feedparser normalises to UTC
            return datetime.fromtimestamp(calendar.timegm(st), tz=UTC)
    return None


def _content(entry: Any) -> str | None:
    contents = [c for c in entry.get("content") or [] if (c.get("value") or "").strip()]
    for item in contents:
        if item.get("type") in _HTML_TYPES:
            return item["value"]
    for item in contents:  # plain text: paragraphs into <p>
        paragraphs = [p.strip() for p in item["value"].split("\n\n") if p.strip()]
        return "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return None


def _image(entry: Any, base: str) -> str | None:
    for media in entry.get("media_content") or []:
        medium, mime = media.get("medium", ""), media.get("type", "")
        if medium == "image" or mime.startswith("image/"):
            return _absolute(base, media.get("url"))
    for thumb in entry.get("media_thumbnail") or []:
        if thumb.get("url"):
            return _absolute(base, thumb["url"])
    for link in entry.get("links") or []:
        if link.get("rel") == "enclosure" and link.get("type", "").startswith("image/"):
            return _absolute(base, link.get("href"))
    return None


def _title(entry: Any) -> str | None:
    title = entry.get("title")
    if not isinstance(title, str):
        return None
    mime = (entry.get("title_detail") or {}).get("type")
    if mime in _HTML_TYPES and "<" in title:  # Atom type="html": the headline is the text
        title = lxml.html.fragment_fromstring(title, create_parent="div").text_content()
    return title.strip() or None


def _item(entry: Any, base: str) -> FeedItem:
    link = entry.get("link")
    if not link:
        guid = entry.get("id") or ""
        link = guid if guid.startswith(("http://", "https://")) else None
    return FeedItem(
        link=_absolute(base, link),
        title=_title(entry),
        published=_published(entry),
        content=_content(entry),
        image=_image(entry, base),
    )
