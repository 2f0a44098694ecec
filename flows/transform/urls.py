"""Canonical article URLs (DESIGN.md §2): the key of the warehouse."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit, urlunsplit

from flows.settings import TRACKING_PARAMS, TRACKING_PREFIXES


class BadURL(ValueError):
    """The text is not an absolute http(s) URL."""


def _is_tracking(param: str) -> bool:
    name = param.split("=", 1)[0].lower()
    return name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES)


def canonical_url(raw: str) -> str:
    """Absolute http(s), fragment removed, scheme and host lower-cased, tracking params dropped.

    Everything else stays as given (percent-encoding, path case, parameter order).
    """
    text = raw.strip()
    if not text or any(c in text for c in "\r\n\t "):
        raise BadURL(f"not a URL: {raw[:200]!r}")
    try:
        parts = urlsplit(text)
        port = parts.port  # raises on a bad port
    except ValueError as exc:
        raise BadURL(f"unparsable URL {raw[:200]!r}: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise BadURL(f"not an absolute http(s) URL: {raw[:200]!r}")
    host = (parts.hostname or "").lower()
    if not host or ("." not in host and host != "localhost"):
        raise BadURL(f"no valid host in {raw[:200]!r}")
    # Credentials never belong in a key; an IPv6 literal keeps its brackets.
    shown = f"[{host}]" if parts.netloc.rsplit("@", 1)[-1].startswith("[") else host
    netloc = shown if port is None else f"{shown}:{port}"
    query = "&".join(p for p in parts.query.split("&") if p and not _is_tracking(p))
    return urlunsplit((scheme, netloc, parts.path, query, ""))


def absolute_http_url(ref: str | None, base: str | None) -> str | None:
    """Resolve an href/src against ``base``; None unless the result is http(s)."""
    if not ref:
        return None
    ref = ref.strip()
    if not ref or ref.startswith(("data:", "javascript:", "about:", "blob:")):
        return None
    try:
        absolute = urljoin(base, ref) if base else ref
        parts = urlsplit(absolute)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return absolute
