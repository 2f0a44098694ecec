"""Archived feed items: `<!--EPOCH_MS-->`, `[Title](URL)`, a rule of dashes, then HTML."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flows.core.dates import is_plausible
from flows.core.units import RejectReason

_STAMP = re.compile(r"\A\s*<!--\s*(.*?)\s*-->[ \t]*\r?\n")
_RULE = re.compile(r"\A-{3,}\s*\Z")
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>])")
_WS = re.compile(r"\s+")


class HeaderError(ValueError):
    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(slots=True)
class ArchivedItem:
    published: datetime
    title: str
    url: str
    body_html: str


def looks_archived(text: str) -> bool:
    """An item starts with an HTML comment line, then a line opening a markdown link."""
    m = _STAMP.match(text)
    if not m:
        return False
    rest = text[m.end() :].lstrip()
    return rest.startswith("[")


def clean_title(raw: str) -> str:
    return _WS.sub(" ", html.unescape(_MD_ESCAPE.sub(r"\1", raw))).strip()


def parse_epoch_ms(raw: str, run_start: datetime | None = None) -> datetime:
    """The header's epoch milliseconds, exactly; an implausible time is a bad_timestamp."""
    if not re.fullmatch(r"-?\d{1,16}", raw):
        raise HeaderError(
            RejectReason.BAD_TIMESTAMP, f"timestamp is not epoch milliseconds: {raw[:60]!r}"
        )
    ms = int(raw)
    try:
        published = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    except OverflowError:
        raise HeaderError(
            RejectReason.BAD_TIMESTAMP, f"timestamp {ms} ms is past the calendar"
        ) from None
    if not is_plausible(published, run_start):
        raise HeaderError(
            RejectReason.BAD_TIMESTAMP, f"timestamp {ms} ms is {published.isoformat()}"
        )
    return published


def parse_archived(text: str, run_start: datetime | None = None) -> ArchivedItem:
    """Split an item into its header truth and its HTML body. Raises HeaderError."""
    m = _STAMP.match(text)
    if not m:
        raise HeaderError(RejectReason.BAD_HEADER, "no <!--EPOCH_MS--> line")
    published = parse_epoch_ms(m.group(1), run_start)
    lines = iter(text[m.end() :].splitlines(keepends=True))
    link = next((ln.strip() for ln in lines if ln.strip()), "")
    # The URL may hold parentheses and the title brackets: split at the last "](".
    cut = link.rfind("](")
    if not (link.startswith("[") and link.endswith(")") and cut > 0):
        raise HeaderError(
            RejectReason.BAD_HEADER, f"second line is not [Title](URL): {link[:120]!r}"
        )
    title, url = clean_title(link[1:cut]), link[cut + 2 : -1].strip()
    if url.startswith("<") and url.endswith(">"):
        url = url[1:-1]
    for line in lines:
        if line.strip():
            if not _RULE.match(line.strip()):
                raise HeaderError(
                    RejectReason.BAD_HEADER, f"no dashed rule after the link: {line[:80]!r}"
                )
            break
    body = "".join(lines)
    return ArchivedItem(published=published, title=title, url=url, body_html=body)
