"""All sources as one lazy stream: local files first, then web sources (fetched in the
background while the files are transformed)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

from flows.core.settings import WARC_BASE_URL
from flows.core.units import Lookup, Rejection, WorkUnit
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

T = TypeVar("T")

# What earlier runs saw is asked of the warehouse per chunk of discovered inputs: what
# discovery finds within CHUNK_S (at most MOST_CHUNK). Each question has a fixed cost, so
# chunks are as large as that allows; the time bound keeps the first batch from waiting on a
# slow discovery (WARC indexing) longer than before.
CHUNK_S = 0.25
MOST_CHUNK = 20_000


def chunked(
    stream: Iterable[T],
    ends: Callable[[T], bool] | None = None,
    most: int = MOST_CHUNK,
    seconds: float = CHUNK_S,
) -> Iterator[list[T]]:
    """``stream`` in lists: what arrives within ``seconds`` of a list's first item, at most
    ``most`` items, and a list ends early after an item for which ``ends`` is true."""
    chunk: list[T] = []
    started = 0.0
    for item in stream:
        if not chunk:
            started = time.monotonic()
        chunk.append(item)
        if (
            len(chunk) >= most
            or (ends is not None and ends(item))
            or time.monotonic() - started >= seconds
        ):
            yield chunk
            chunk = []
    if chunk:
        yield chunk


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


class KnownStates(Lookup[str], Protocol):
    """What earlier runs remember of sources: one at a time, or a chunk in one question."""

    def fingerprints(self, sources: Sequence[str]) -> dict[str, str]: ...

    def remember(self, source: str, state: str | None) -> None: ...


class NothingKnown:
    """A warehouse with no earlier runs (tests, a first run)."""

    def get(self, source: str, /) -> str | None:
        return None

    def fingerprints(self, sources: Sequence[str]) -> dict[str, str]:
        return {}

    def remember(self, source: str, state: str | None) -> None:
        pass


def discover(
    sources: Sequence[str],
    options: WebOptions,
    validators: Lookup[Validator],
    known: KnownStates | None = None,
    downloads: Path | None = None,
    warc_base_url: str = WARC_BASE_URL,
) -> Iterator[Discovered]:
    files, web = split_sources(sources)
    warcs = [s for s in web if is_warc_source(s)]
    web = [s for s in web if s not in warcs]
    known = known if known is not None else NothingKnown()
    # Files in chunks: one question to the warehouse per chunk, asked before any is opened.
    for chunk in chunked(discover_files(files)):
        states = known.fingerprints([i.source for i in chunk if isinstance(i, WorkUnit)])
        for item in chunk:
            if not isinstance(item, WorkUnit):
                yield item
                continue
            state = states.get(item.source)
            if state != item.fingerprint and item.path and is_warc_file(item.path):
                # One input per record, indexed here; an unchanged file is skipped unread.
                file_state = {item.source: state} if state is not None else {}
                yield from discover_warc(item.path, item.source, item.fingerprint or "", file_state)
            else:
                known.remember(item.source, state)  # the router's answer, already had
                yield item
    if warcs:
        from flows.extract.web.download import discover_remote_warcs

        folder = downloads if downloads is not None else Path("warc-downloads")
        yield from discover_remote_warcs(warcs, options, known, folder, warc_base_url)
    if web:
        from flows.extract.web.discover import discover_web  # the HTTP stack, only when needed

        yield from discover_web(web, options, validators)
