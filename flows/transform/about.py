"""What a page says about its article beyond the five columns: language, byline, site name,
description, sections and tags (the ``article_meta`` side table). Read from the same meta
index and JSON-LD object as the page's headline, so the page is walked no further; a detector
decides the language when the page states none or one its text contradicts."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lxml.html import HtmlElement

if TYPE_CHECKING:
    from flows.core.units import Article

from flows.core.settings import (
    LANG_GLANCE_CHARS,
    LANG_GLANCE_CONFIDENCE,
    LANG_OVERRIDE_CONFIDENCE,
    LANG_SAMPLE_CHARS,
)

log = logging.getLogger(__name__)

_CODE = re.compile(r"^([a-z]{2,3})(?:[-_][a-z0-9]{1,8})*$")
# Old codes some pages still declare, as the detector names the language today.
_RENAMED = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "nb": "no", "nn": "no"}
_LANGUAGE_METAS = ("og:locale", "content-language", "language", "dc.language", "DC.language")
_AUTHOR_METAS = ("author", "article:author", "byl", "parsely-author", "sailthru.author")
_SECTION_METAS = ("article:section", "parsely-section", "category")
_TAG_METAS = ("article:tag", "news_keywords", "keywords", "parsely-tags")
_BY = re.compile(r"^\s*by\s+", re.I)
_MAX_FIELD = 300  # a longer "author" or tag is a page's mistake, not a name
_MAX_DESCRIPTION = 1000
_MAX_ITEMS = 30


@dataclass(slots=True)
class About:
    language: str | None = None  # the page's own statement, as an ISO 639 code
    language_source: str | None = None
    author: str | None = None
    sitename: str | None = None
    description: str | None = None
    categories: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


def language_code(value: object) -> str | None:
    """``en-US``, ``en_GB``, ``EN`` -> ``en``; None for anything that is no language tag."""
    if not isinstance(value, str):
        return None
    match = _CODE.match(value.strip().lower())
    if not match or match.group(1) in ("und", "mul", "zxx", "xx"):
        return None
    return _RENAMED.get(match.group(1), match.group(1))


def _clean(value: object, limit: int = _MAX_FIELD) -> str | None:
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    return text if 0 < len(text) <= limit else None


def _names(value: object) -> list[str]:
    """JSON-LD persons or organisations: a string, ``{"name": ...}``, or a list of them."""
    if isinstance(value, list):
        return [name for item in value for name in _names(item)]
    if isinstance(value, dict):
        value = value.get("name")
    name = _clean(value)
    return [_BY.sub("", name)] if name else []


def _items(value: object) -> list[str]:
    """A list, or a comma-separated string, as distinct non-empty items in order."""
    parts = value if isinstance(value, list) else str(value).split(",") if value else []
    found: dict[str, None] = {}
    for part in parts:
        if (item := _clean(part)) and len(found) < _MAX_ITEMS:
            found.setdefault(item, None)
    return list(found)


def _all_metas(tree: HtmlElement, names: tuple[str, ...]) -> list[str]:
    """Every content of the named metas (article:tag repeats; the meta index keeps one)."""
    wanted = {n.lower() for n in names}
    values = []
    for el in tree.iter("meta"):
        key = (el.get("property") or el.get("name") or el.get("http-equiv") or "").lower()
        if key in wanted and (content := el.get("content")):
            values.append(content)
    return values


def read_about(tree: HtmlElement, metas: dict[str, str], jsonld: dict) -> About:
    """The page's statements about its article (``metas``: its meta index; ``jsonld``: its
    article object)."""
    about = About()
    root_lang = tree.get("lang") or tree.get("{http://www.w3.org/XML/1998/namespace}lang")
    for source, value in (
        ("html", root_lang),
        ("jsonld", jsonld.get("inLanguage")),
        *(("meta", v) for v in _all_metas(tree, _LANGUAGE_METAS)),
    ):
        if code := language_code(value):
            about.language, about.language_source = code, source
            break
    authors = _names(jsonld.get("author")) or _names(jsonld.get("creator"))
    if not authors:
        authors = [
            _BY.sub("", name)
            for v in _all_metas(tree, _AUTHOR_METAS)
            if (name := _clean(v)) and "://" not in name  # a profile link is no name
        ]
    about.author = ", ".join(dict.fromkeys(authors)) or None
    publisher = jsonld.get("publisher")
    publishers = _names(publisher)
    about.sitename = _clean(metas.get("og:site_name")) or (publishers[0] if publishers else None)
    about.description = _clean(
        metas.get("og:description") or metas.get("description") or jsonld.get("description"),
        _MAX_DESCRIPTION,
    )
    about.categories = _items(jsonld.get("articleSection")) or _items(
        _all_metas(tree, _SECTION_METAS)
    )
    about.tags = _items(jsonld.get("keywords")) or _items(
        [item for v in _all_metas(tree, _TAG_METAS) for item in v.split(",")]
    )
    return about


@functools.cache
def _identifier() -> Any:  # py3langid ships no types
    """py3langid's model, mapped once per worker process from the unpacked cache."""
    from flows.transform.language_model import load_identifier

    return load_identifier()


def load_language_model() -> None:
    """Load py3langid's model now (a worker's start), not inside a document's CPU budget."""
    _identifier()


def detect_language(text: str, chars: int = LANG_SAMPLE_CHARS) -> tuple[str | None, float]:
    """py3langid's language of the text's first ``chars`` characters and its probability;
    None when it is no language (numbers, markup)."""
    code, probability = _identifier().classify(text[:chars])
    return language_code(code), float(probability)


def choose_language(declared: str | None, body: str) -> str | None:
    """The page's stated language, unless it states none or the text is confidently another
    language (a template's default ``lang="en"`` on a page in German).

    A glance at the body's first LANG_GLANCE_CHARS characters settles most pages (it names the
    stated language, or, where the page states none, one it is sure of); the others are read
    on LANG_SAMPLE_CHARS. The detector's cost grows with the text it reads."""
    glance, probability = detect_language(body, LANG_GLANCE_CHARS)
    if glance is not None and (
        glance == declared or (declared is None and probability >= LANG_GLANCE_CONFIDENCE)
    ):
        return glance
    if len(body) > LANG_GLANCE_CHARS:
        glance, probability = detect_language(body)
    if declared is None:
        return glance
    if glance is None or glance == declared or probability < LANG_OVERRIDE_CONFIDENCE:
        return declared
    return glance


# The batch's language step runs outside each document's isolation: whatever one article's
# text makes the detector raise costs that article the check, never the batch (it keeps the
# page's statement).
_DETECT_ERRORS = (Exception,)


def settle_languages(articles: Sequence[Article]) -> None:
    """Each article's language: its page's statement (what the transform left in
    ``language``), confirmed or overruled by the detector (``choose_language``).

    A batch's articles are read together after their transforms: in the middle of one, the
    detector's tables are out of the processor's caches, and reading a text cost it about
    three times as much."""
    for article in articles:
        try:
            article.language = choose_language(article.language, article.body)
        except _DETECT_ERRORS as exc:  # the page's statement, if any, stays
            log.warning("no detected language for %s: %s", article.url, exc)
