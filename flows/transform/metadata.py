"""What a page says about itself: canonical URL, headline, publication time, lead image."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from lxml.html import HtmlElement

from flows.core.dates import is_plausible, parse_iso
from flows.core.urls import absolute_http_url

_ARTICLE_TYPES = {
    "newsarticle",
    "article",
    "blogposting",
    "reportagenewsarticle",
    "analysisnewsarticle",
    "opinionnewsarticle",
    "backgroundnewsarticle",
    "liveblogposting",
    "webpage",
}
_LAZY_ATTRS = ("data-src", "data-lazy-src", "data-original", "data-url")
_MIN_IMAGE_PX = 50  # smaller is a tracking pixel, an icon or a spacer
# Whole words only: "silicon-valley.jpg" is no icon.
_NOT_CONTENT = re.compile(
    r"(?<![a-z])(logo|icon|favicon|avatar|sprite|spacer|pixel|badge|emoji)s?(?![a-z])", re.I
)
_TITLE_SEPARATORS = (" | ", " - ", " – ", " — ", " :: ", " · ", " » ")
_LISTING = {"a", "li", "nav", "aside", "footer"}
_TITLE_CHROME = {"nav", "footer", "aside", "dialog", "form"}
_BANNER = re.compile(r"cookie|consent|gdpr|banner|modal|popup|newsletter|promo", re.I)
_SCHEME = re.compile(r"^\s*[a-z][a-z0-9+.\-]*:", re.I)
_SAVED_FROM = re.compile(r"<!--\s*saved from url=\((\d+)\)(\S+?)\s*-->", re.I)
_SINGLEFILE = re.compile(
    r"<!--\s*Page saved with SingleFile\b(?:(?!-->).)*?^\s*url:\s*(\S+)", re.I | re.M | re.S
)
_DATE_METAS = (
    "article:published_time",
    "og:article:published_time",
    "datePublished",
    "pubdate",
    "publish-date",
    "parsely-pub-date",
    "sailthru.date",
    "dcterms.created",
    "DC.date.issued",
)
_CHROME = {"nav", "header", "footer", "aside", "noscript", "form"}
# An ANSI escape sequence whole, or a single C0/C1 control character other than whitespace.
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")
# In a whole document: what XML forbids (trafilatura's tree conversion drops a page holding
# any) and the C1 controls but NEL, keeping tab, newline and carriage return; vertical tab and
# form feed become spaces.
_DOC_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")
_DOC_SPACE = re.compile(r"[\x0b\x0c]")
# What wraps JSON-LD in pages written for old XHTML parsers: <![CDATA[ ... ]]>, bare or
# inside /* */ or // comments, and <!-- ... -->.
# A JSON string (kept), or a /* */ or // comment (dropped); then a string, or a comma before a
# closing bracket (dropped).
_JSON_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|/\*.*?\*/|//[^\n]*', re.S)
_JSON_TRAILING = re.compile(r'"(?:[^"\\\n]|\\.)*"|,(?=\s*[}\]])')
_MAX_TITLE_CHARS = 400  # a <title> longer than this is keyword stuffing, not a headline's frame
_JSON_WRAPPERS = re.compile(r"/\*\s*<!\[CDATA\[\s*\*/|/\*\s*\]\]>\s*\*/|<!\[CDATA\[|\]\]>|<!--|-->")


@dataclass(slots=True)
class PageMeta:
    url: str | None = None
    title: str | None = None
    title_source: str | None = None  # which of the page's candidates the title is
    published: datetime | None = None
    published_source: str | None = None
    implausible: str | None = None  # the source of a date dropped as outside the window
    implausible_at: datetime | None = None  # that date
    image: str | None = None
    invalid_canonical: str | None = None  # a stated canonical that is no http(s) URL
    # Every plausible timestamp the page states, in order of trust (``published`` is first).
    dates: list[tuple[str, datetime]] = field(default_factory=list)


def remove_controls(document: str) -> str:
    """The document without terminal escapes and control characters other than whitespace."""
    return _DOC_SPACE.sub(" ", _DOC_CONTROL.sub("", document))


def collapse(text: str | None) -> str:
    """Whitespace collapsed to single spaces, control characters (terminal escapes) removed."""
    if not text:
        return ""
    if not text.isprintable():  # cheap test: most text has no control characters at all
        text = _CONTROL.sub("", text)
    # str.split() and re's \s agree on what whitespace is (str.isspace), at a quarter the cost.
    return " ".join(text.split())


def lenient_json(text: str) -> list[object]:
    """Every JSON value in a script's text, read as browsers' and search engines' parsers
    forgive it: CDATA and HTML comment wrappers, ``/* */`` and ``//`` comments, trailing
    commas, and several values one after another. Nothing readable: an empty list."""
    try:
        return [json.loads(text)]
    except (ValueError, RecursionError):
        pass
    cleaned = _without_comments(_JSON_WRAPPERS.sub(" ", text))
    decoder = json.JSONDecoder()
    values: list[object] = []
    pos, end = 0, len(cleaned)
    while pos < end:
        while pos < end and (cleaned[pos].isspace() or cleaned[pos] in ",;"):
            pos += 1
        if pos >= end:
            break
        try:
            value, pos = decoder.raw_decode(cleaned, pos)
        except (ValueError, RecursionError):
            break
        values.append(value)
    return values


def _without_comments(text: str) -> str:
    """``text`` without JS comments and trailing commas, strings left as they are (one pass
    of the regex engine, so a large script costs no Python loop per character)."""
    text = _JSON_COMMENT.sub(_strings_only, text)
    return _JSON_TRAILING.sub(_strings_only, text)


def _strings_only(match: re.Match[str]) -> str:
    return match.group(0) if match.group(0)[0] == '"' else ""


def _jsonld_objects(tree: HtmlElement) -> Iterator[dict]:
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        stack: list[object] = list(reversed(lenient_json(script.text or "")))
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(reversed(item))
            elif isinstance(item, dict):
                if "@graph" in item:
                    stack.extend(
                        reversed(item["@graph"]) if isinstance(item["@graph"], list) else []
                    )
                if _types(item) & _ARTICLE_TYPES:
                    yield item


def _types(item: dict) -> set[str]:
    types = item.get("@type", "")
    types = types if isinstance(types, list) else [types]
    return {t.lower() for t in types if isinstance(t, str)}


def _jsonld_image(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return value.get("url") or value.get("contentUrl")
    if isinstance(value, list) and value:
        return _jsonld_image(value[0])
    return None


def _meta_index(tree: HtmlElement) -> dict[str, str]:
    """Every <meta property|name|itemprop=... content=...> in one walk; the first one wins."""
    index: dict[str, str] = {}
    for el in tree.iter("meta"):
        content = el.get("content")
        if not content or not content.strip():
            continue
        for attr in ("property", "name", "itemprop"):
            key = el.get(attr)
            if key and key not in index:
                index[key] = content.strip()
    return index


def _meta(index: dict[str, str], *names: str) -> str | None:
    return next((index[name] for name in names if name in index), None)


def _dimension(value: str | None) -> int | None:
    digits = (value or "").strip().removesuffix("px")
    return int(digits) if digits.isdigit() else None


def _largest_srcset(srcset: str | None) -> str | None:
    """The candidate with the largest width (``800w``) or density (``2x``) descriptor."""
    best, best_size = None, -1.0
    for candidate in (srcset or "").split(","):
        parts = candidate.split()
        if not parts or _is_inline(parts[0]):
            continue
        size = 0.0
        if len(parts) > 1 and parts[1][-1:] in ("w", "x"):
            try:
                size = float(parts[1][:-1])
            except ValueError:
                size = 0.0
        if size > best_size:
            best, best_size = parts[0], size
    return best


def _is_inline(src: str) -> bool:
    return src.strip()[:5].lower() == "data:"


def _is_real_image(img: HtmlElement) -> str | None:
    """The image's address unless it is a pixel, an icon, a logo or an inline data: URI."""
    for dim in ("width", "height"):
        if (size := _dimension(img.get(dim))) is not None and size < _MIN_IMAGE_PX:
            return None
    # Lazy loaders keep the real address in data-* and a placeholder in src.
    candidates = [img.get(a) for a in _LAZY_ATTRS]
    candidates += [_largest_srcset(img.get(a)) for a in ("data-srcset", "srcset")]
    candidates.append(img.get("src"))
    src = next((c.strip() for c in candidates if c and c.strip() and not _is_inline(c)), None)
    if src is None:
        return None
    marks = " ".join(filter(None, (img.get("class"), img.get("id"), src.rsplit("/", 1)[-1])))
    return None if _NOT_CONTENT.search(marks) else src


def first_body_image(root: HtmlElement) -> str | None:
    """The first real <img> outside page chrome (nav, header, footer, aside)."""
    for img in root.iter("img"):
        if any(a.tag in _CHROME for a in img.iterancestors()):
            continue
        if src := _is_real_image(img):
            return src
    return None


def _norm(text: str) -> str:
    return "".join(c for c in text.casefold() if c.isalnum())


def site_names(metas: dict[str, str], jsonld: dict, url: str | None) -> set[str]:
    """Normalised names the site goes by: og:site_name, the publisher, the host."""
    names = {_meta(metas, "og:site_name", "application-name") or ""}
    publisher = jsonld.get("publisher")
    if isinstance(publisher, dict) and isinstance(publisher.get("name"), str):
        names.add(publisher["name"])
    try:
        host = (urlsplit(url).hostname or "") if url else ""
    except ValueError:
        host = ""
    host = host.removeprefix("www.")
    if host:
        names.update((host, host.split(".")[0]))
    return {n for n in map(_norm, names) if n}


def strip_site_name(title: str, sites: set[str]) -> str:
    """``Headline | Site`` or ``Site - Headline`` -> ``Headline`` when Site is the site's name."""
    for sep in _TITLE_SEPARATORS:
        if sep not in title:
            continue
        head, _, tail = title.rpartition(sep)
        if head.strip() and _norm(tail) in sites:
            return head.strip()
        first, _, rest = title.partition(sep)
        if rest.strip() and _norm(first) in sites:
            return rest.strip()
    return title


def _links_home(el: HtmlElement) -> bool:
    """A link in ``el`` to the site's front page: a site banner's name, not a headline."""
    for a in el.iter("a"):
        href = (a.get("href") or "").strip()
        if not href or href.startswith("#"):
            continue
        try:
            parts = urlsplit(href)
        except ValueError:
            continue
        home = parts.path.strip("/") in ("", "index.html", "index.htm", "index.php")
        if home and not parts.query:
            return True
    return False


def _in_banner(el: HtmlElement) -> bool:
    """Inside navigation, a footer, a dialog or a cookie/consent/newsletter box, or a site
    banner (a heading that links to the front page)."""
    if _links_home(el):
        return True
    for node in (el, *el.iterancestors()):
        if node.tag in _TITLE_CHROME or node.get("role") in ("dialog", "navigation"):
            return True
        marks = f"{node.get('class', '')} {node.get('id', '')}"
        if marks.strip() and _BANNER.search(marks):
            return True
    return False


def _agree(a: str, b: str) -> bool:
    """Two headlines name the same article: one contains the other and the shorter is at
    least half the longer (a section label that a title happens to contain is no match)."""
    x, y = _norm(a), _norm(b)
    return bool(x and y) and (x in y or y in x) and 2 * min(len(x), len(y)) >= max(len(x), len(y))


def _headline_h1(tree: HtmlElement, title: str) -> str | None:
    """The first <h1> outside banners that matches the <title>; without a <title>, the first."""
    for h1 in tree.iter("h1"):
        text = collapse(h1.text_content())
        if not text or _in_banner(h1):
            continue
        if not _norm(title) or _agree(text, title):
            return text
    return None


def _heading_in_title(tree: HtmlElement, title: str) -> str | None:
    """The longest text of the page's body, of three words or more and outside banners, that
    the <title> contains whole: a heading (its whole text) or any element's own text. That is
    the headline of a <title> that wraps it in site and section names no suffix rule knows."""
    wanted = _norm(title)
    body = tree.find(".//body")
    if not wanted or body is None or len(title) > _MAX_TITLE_CHARS:
        return None  # no title, or a <title> stuffed with keywords: no headline inside it
    best: str | None = None
    for el in body.iter():
        if not isinstance(el.tag, str):
            continue
        own = el.text_content() if el.tag in ("h1", "h2", "h3") else el.text
        if not own or len(own) < 10 or (best and len(own.strip()) <= len(best)):
            continue
        if len(own) > 4 * len(title):  # whitespace aside, longer than what could be inside
            continue
        text = collapse(own)
        if len(text.split()) >= 3 and _norm(text) in wanted and not _in_banner(el):
            best = text
    return best


def first_h1(tree: HtmlElement) -> str | None:
    """The first non-empty <h1> outside banners, whatever it says."""
    for h1 in tree.iter("h1"):
        if (text := collapse(h1.text_content())) and not _in_banner(h1):
            return text
    return None


def title_tag(tree: HtmlElement) -> str:
    """The document's <title>, whitespace collapsed."""
    el = tree.find(".//title")
    return collapse(el.text_content()) if el is not None else ""


def _article_time(tree: HtmlElement) -> str | None:
    """The first <time datetime> that is not in a link, a list or page chrome: those date
    other articles (teasers, related links, a ticker)."""
    for el in tree.iter("time"):
        stamp = el.get("datetime")
        if stamp and not any(a.tag in _LISTING for a in el.iterancestors()):
            return stamp
    return None


def _jsonld_url(jsonld: dict) -> str | None:
    for key in ("url", "mainEntityOfPage"):
        value = jsonld.get(key)
        if isinstance(value, dict):
            value = value.get("@id") or value.get("url")
        if isinstance(value, str) and value.strip():
            return value
    return None


def _comment_url(head: str) -> str | None:
    """The address a saved page records in its leading comment (browsers, SingleFile)."""
    if m := _SAVED_FROM.search(head):
        length = int(m.group(1))  # the browser writes the address's length before it
        return m.group(2)[:length] if length else m.group(2)
    if m := _SINGLEFILE.search(head):
        return m.group(1)
    return None


def _canonical(tree: HtmlElement) -> str | None:
    for el in tree.iterfind(".//link[@rel]"):
        href = (el.get("href") or "").strip()
        if href and "canonical" in el.get("rel", "").lower().split():
            return href
    return None


def _page_url(
    tree: HtmlElement, metas: dict[str, str], jsonld: dict, base_url: str | None, head: str
) -> tuple[str | None, str | None]:
    """``(url, invalid_canonical)``: the first http(s) address the page states for itself."""
    base = base_url
    base_el = tree.find(".//base[@href]")
    if base_el is not None:
        base = absolute_http_url(base_el.get("href"), base_url) or base
    canonical = _canonical(tree)
    # javascript:, data:, ftp:... are invalid; a relative link without a base is merely unknown.
    invalid = canonical if canonical and _SCHEME.match(canonical) else None
    for candidate in (
        canonical,
        _meta(metas, "og:url"),
        _jsonld_url(jsonld),
        _meta(metas, "twitter:url"),
        _comment_url(head),
    ):
        if resolved := absolute_http_url(candidate, base):
            return resolved, None
    return None, invalid


def page_metadata(
    tree: HtmlElement,
    base_url: str | None = None,
    head: str = "",
    run_start: datetime | None = None,
) -> PageMeta:
    """Read the page's own metadata. Priority: JSON-LD, then Open Graph/article meta, then tags.

    ``head`` is the start of the page's raw text, for the comments the parser drops; a date
    outside the plausible window of a run started at ``run_start`` is not taken.
    """
    meta = PageMeta()
    metas = _meta_index(tree)
    # Prefer an article object over a WebPage that describes the same page.
    objects = list(_jsonld_objects(tree))
    jsonld = next((o for o in objects if _types(o) - {"webpage"}), objects[0] if objects else {})

    meta.url, meta.invalid_canonical = _page_url(tree, metas, jsonld, base_url, head)
    sites = site_names(metas, jsonld, base_url or meta.url)

    headline = jsonld.get("headline") if isinstance(jsonld.get("headline"), str) else None
    tag = title_tag(tree)
    bare_tag = strip_site_name(tag, sites)
    h1 = _headline_h1(tree, bare_tag)
    for source, candidate in (
        ("og:title", _meta(metas, "og:title")),
        ("jsonld", headline),
        ("twitter:title", _meta(metas, "twitter:title")),
        ("h1", h1),
        ("title", tag),
    ):
        text = strip_site_name(collapse(candidate), sites)
        if text and _norm(text) not in sites:  # the site's own name is no headline
            meta.title, meta.title_source = text, source
            break
    if meta.title_source == "title" and (inner := _heading_in_title(tree, tag)):
        meta.title, meta.title_source = inner, "h1" if inner == h1 else "heading"
    # The <title> and an <h1> that agree outvote a stated headline that matches neither
    # (a JSON-LD or og:title left from a template, or naming another article).
    if (
        meta.title
        and meta.title_source in ("og:title", "jsonld", "twitter:title")
        and h1
        and bare_tag
        and _norm(h1) not in sites
        and not _agree(meta.title, h1)
        and not _agree(meta.title, bare_tag)
    ):
        meta.title, meta.title_source = h1, "h1"

    for source, value in (
        ("jsonld", jsonld.get("datePublished")),
        *(("meta", metas.get(name)) for name in _DATE_METAS),
        ("time", _article_time(tree)),
        ("jsonld", jsonld.get("dateCreated")),
    ):
        if not isinstance(value, str) or (parsed := parse_iso(value)) is None:
            continue
        if is_plausible(parsed, run_start):
            meta.dates.append((source, parsed))
            continue
        if meta.implausible is None:
            meta.implausible, meta.implausible_at = source, parsed

    if meta.dates:
        meta.published_source, meta.published = meta.dates[0]

    images = (
        _meta(metas, "og:image", "og:image:url", "og:image:secure_url"),
        _meta(metas, "twitter:image", "twitter:image:src"),
        _jsonld_image(jsonld.get("image")),
    )
    for candidate in images:
        if resolved := absolute_http_url(candidate, meta.url or base_url):
            meta.image = resolved
            break
    return meta
