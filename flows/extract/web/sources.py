"""What the user names as web sources: URLs, and local files listing them (text or OPML)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError
from defusedxml.ElementTree import parse as parse_xml_file

from flows.core.units import Rejection, RejectReason
from flows.core.urls import url_problem

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_COMMENT = re.compile(r"(^|\s)#.*$")  # '#' inside a URL (a fragment) is not a comment
LIST_SUFFIXES = frozenset({".txt", ".urls", ".opml"})


def _lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8-sig", errors="replace") as handle:
        for raw in handle:
            line = _COMMENT.sub("", raw).strip()
            if line:
                yield line


def is_web_source(source: str) -> bool:
    """True for a URL (``scheme://...``; discover_web rejects other schemes as bad_url) and
    for a local ``.txt``/``.urls`` file whose first entry is an http(s) URL, or an ``.opml``
    file. Everything else is for the file discovery."""
    if _SCHEME.match(source.strip()):
        return True
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix not in LIST_SUFFIXES or not path.is_file():
        return False
    if suffix == ".opml":
        return True
    try:
        first = next(_lines(path), "")
    except OSError:
        return False
    return url_problem(first) is None


def _opml_urls(path: Path) -> Iterator[str]:
    root = parse_xml_file(str(path), forbid_dtd=True).getroot()
    for outline in root.iter("outline"):
        url = outline.get("xmlUrl") or outline.get("xmlurl")
        if url and url.strip():
            yield url.strip()


def expand_sources(sources: Iterable[str]) -> Iterator[str | Rejection]:
    """URLs in the order given; a list file contributes its lines."""
    for source in sources:
        source = source.strip()
        if not source:
            continue
        if _SCHEME.match(source):
            yield source
            continue
        path = Path(source)
        if not path.is_file():
            yield Rejection(source, RejectReason.BAD_URL, "neither a URL nor a file of URLs")
            continue
        try:
            if path.suffix.lower() == ".opml":
                yield from _opml_urls(path)
            else:
                yield from _lines(path)
        except (OSError, ParseError, DefusedXmlException) as exc:
            yield Rejection(source, RejectReason.READ_ERROR, f"{type(exc).__name__}: {exc}")
