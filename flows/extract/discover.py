"""All sources as one lazy stream: local files first, then web sources (fetched in the
background while the files are transformed)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from flows.extract.files import check_sources, count_files, discover_files
from flows.extract.warc import (
    FileEstimate,
    FileIndexed,
    FileUnchanged,
    discover_warc,
    is_warc_file,
    is_warc_source,
)
from flows.extract.web.options import NotModified, Validator, WebOptions
from flows.extract.web.sources import is_web_source
from flows.settings import WARC_BASE_URL
from flows.units import Rejection, WorkUnit

Discovered = (
    WorkUnit | Rejection | NotModified | Validator | FileIndexed | FileUnchanged | FileEstimate
)


def split_sources(sources: Sequence[str]) -> tuple[list[str], list[str]]:
    web = [s for s in sources if is_web_source(s) or is_warc_source(s)]
    return [s for s in sources if s not in web], web


def check_all(sources: Sequence[str]) -> None:
    """Fail before a run if a local SOURCE matches nothing (URLs are checked by fetching)."""
    files, _ = split_sources(sources)
    check_sources(files)


def count_local(sources: Sequence[str]) -> int:
    files, _ = split_sources(sources)
    return count_files(files)


def discover(
    sources: Sequence[str],
    options: WebOptions,
    validators: Mapping[str, Validator],
    known: Mapping[str, str] | None = None,
    downloads: Path | None = None,
    warc_base_url: str = WARC_BASE_URL,
) -> Iterator[Discovered]:
    files, web = split_sources(sources)
    warcs = [s for s in web if is_warc_source(s)]
    web = [s for s in web if s not in warcs]
    known = known or {}
    for item in discover_files(files):
        unchanged = isinstance(item, WorkUnit) and known.get(item.source) == item.fingerprint
        if not unchanged and isinstance(item, WorkUnit) and item.path and is_warc_file(item.path):
            # One input per record, indexed here; an unchanged file is skipped unread.
            yield from discover_warc(item.path, item.source, item.fingerprint or "", known)
        else:
            yield item
    if warcs:
        from flows.extract.web.download import discover_remote_warcs

        folder = downloads if downloads is not None else Path("warc-downloads")
        yield from discover_remote_warcs(warcs, options, known, folder, warc_base_url)
    if web:
        from flows.extract.web.discover import discover_web  # the HTTP stack, only when needed

        yield from discover_web(web, options, validators)
