"""Canonical article URLs (DESIGN.md §2): the key of the warehouse."""

from __future__ import annotations

import re
from urllib.parse import urldefrag, urljoin, urlsplit, urlunsplit

from flows.core.settings import TRACKING_PARAMS, TRACKING_PREFIXES


class BadURL(ValueError):
    """The text is not an absolute http(s) URL."""


def _is_tracking(param: str) -> bool:
    name = param.split("=", 1)[0].lower()
    return name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES)


# Space and every control character, C0, DEL and C1: no valid URL holds one (RFC 3986), and
# one in a key would reach a terminal through `query`, or be stripped by a later parse.
_NOT_IN_URL = re.compile(r"[\x00-\x20\x7f-\x9f]")


def url_problem(text: str) -> str | None:
    """Why ``text`` is not an absolute http(s) URL with a host, or None: the one URL check
    (article keys, images, fetched pages and redirects, lists of URLs)."""
    if not text or _NOT_IN_URL.search(text):
        return f"not a URL: {text[:200]!r}"
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return f"unparsable URL {text[:200]!r}: {exc}"
    if parts.scheme.lower() not in ("http", "https"):
        return f"not an absolute http(s) URL: {text[:200]!r}"
    host = (parts.hostname or "").lower()
    # a dotless name is an intranet alias, not a site; IPv6 literals have colons instead
    if not host or not ("." in host or ":" in host or host == "localhost"):
        return f"no valid host in {text[:200]!r}"
    return None


def normalize_url(url: str) -> str:
    """The URL to fetch: surrounding space and the fragment (never sent) removed."""
    return urldefrag(url.strip())[0]


def canonical_url(raw: str) -> str:
    """Absolute http(s), fragment removed, scheme and host lower-cased, tracking params dropped.

    Everything else stays as given (percent-encoding, path case, parameter order).
    """
    text = raw.strip()
    problem = url_problem(text)
    if problem is not None:
        raise BadURL(problem)
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    # Credentials never belong in a key; an IPv6 literal keeps its brackets (a host with a
    # colon is one, however the netloc around it was written).
    shown = f"[{host}]" if ":" in host else host
    netloc = shown if parts.port is None else f"{shown}:{parts.port}"
    query = "&".join(p for p in parts.query.split("&") if p and not _is_tracking(p))
    canonical = urlunsplit((scheme, netloc, parts.path, query, ""))
    # The key must pass the same check and be its own canonical form (idempotent).
    problem = url_problem(canonical)
    if problem is not None:
        raise BadURL(problem)
    return canonical


def absolute_http_url(ref: str | None, base: str | None) -> str | None:
    """Resolve an href/src against ``base``; None unless the result is an http(s) URL."""
    if not ref:
        return None
    # a browser sends a space inside a src as %20
    ref = ref.strip().replace(" ", "%20")
    if not ref or ref.startswith(("data:", "javascript:", "about:", "blob:")):
        return None
    try:
        absolute = urljoin(base, ref) if base else ref
    except ValueError:
        return None
    return absolute if url_problem(absolute) is None else None
