"""Refuse XML that declares entities before any parser that might expand them sees it
(billion laughs, XXE). A DOCTYPE without entity declarations (RSS 0.91's) is fine."""

from __future__ import annotations

import re

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser, ParseError

_CHUNK = 64 * 1024
_ENTITY_DECL = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)


class UnsafeXML(Exception):
    pass


class _RootSeen(Exception):
    """Raised from the parser target: the prolog, where a DTD could be, is over."""


class _StopAtRoot:
    def start(self, tag: str, attrib: dict[str, str]) -> None:
        raise _RootSeen

    def close(self) -> None:
        return None


def ensure_safe_xml(data: bytes) -> None:
    """Raise UnsafeXML if ``data`` declares an entity or references an external one.

    Only the prolog is parsed (declarations cannot come later), so this costs little even
    for a large document. If expat cannot read the prolog (say, a GBK-encoded feed), fall
    back to looking for an entity declaration in the bytes.
    """
    parser = DefusedXMLParser(target=_StopAtRoot(), forbid_dtd=False)
    try:
        for start in range(0, len(data), _CHUNK):
            parser.feed(data[start : start + _CHUNK])
        parser.close()
    except _RootSeen:
        return
    except DefusedXmlException as exc:
        raise UnsafeXML(f"unsafe XML: {type(exc).__name__}: {exc}") from exc
    except (ParseError, ValueError, LookupError):  # malformed, or an encoding expat lacks
        if _ENTITY_DECL.search(data) or _ENTITY_DECL.search(data.replace(b"\0", b"")):
            raise UnsafeXML("unsafe XML: entity declaration") from None
