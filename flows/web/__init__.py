"""Live web sources: pages, RSS/Atom feeds and sitemaps, fetched politely and incrementally.

Names are loaded on first use (PEP 562): the flow imports the light option types on every
run, the HTTP stack (httpx, feedparser, lxml parsers) only when a run has web sources.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "FETCH_ERROR": "flows.web.options",
    "NotModified": "flows.web.options",
    "Validator": "flows.web.options",
    "WebOptions": "flows.web.options",
    "WebStats": "flows.web.fetch",
    "discover_web": "flows.web.discover",
    "is_web_source": "flows.web.sources",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'flows.web' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
