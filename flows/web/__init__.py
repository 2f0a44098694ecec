"""Live web sources: pages, RSS/Atom feeds and sitemaps, fetched politely and incrementally."""

from flows.web.discover import (
    FETCH_ERROR,
    NotModified,
    Validator,
    WebOptions,
    WebStats,
    discover_web,
    is_web_source,
)

__all__ = [
    "FETCH_ERROR",
    "NotModified",
    "Validator",
    "WebOptions",
    "WebStats",
    "discover_web",
    "is_web_source",
]
