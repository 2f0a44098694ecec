"""Live web sources: pages, RSS/Atom feeds and sitemaps, fetched politely and incrementally.

Names are loaded on first use (PEP 562): the flow imports the light option types on every
run, the HTTP stack (httpx, feedparser, lxml parsers) only when a run has web sources.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "NotModified": "flows.extract.web.options",
    "Validator": "flows.extract.web.options",
    "WebOptions": "flows.extract.web.options",
    "WebStats": "flows.extract.web.fetch",
    "discover_web": "flows.extract.web.discover",
    "is_web_source": "flows.extract.web.sources",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'flows.extract.web' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
