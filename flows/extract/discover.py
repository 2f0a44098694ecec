"""All sources as one lazy stream: local files first, then web sources (fetched in the
background while the files are transformed)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple, Protocol, TypeVar
from urllib.parse import urlsplit

from flows.core.settings import WARC_BASE_URL
from flows.core.units import Lookup, Rejection, RejectReason, WorkUnit, internal_error
from flows.extract.files import check_sources, count_files, discover_files
from flows.extract.warc import Found, index_warc, is_warc_file
from flows.extract.web.options import NotModified, Validator, WebOptions
from flows.extract.web.sources import is_web_source

T = TypeVar("T")
_WARC_URL = re.compile(r"\.warc(\.gz|\.zst)?$", re.IGNORECASE)
LISTING = re.compile(r"\.paths(\.gz)?$", re.IGNORECASE)  # Common Crawl's warc.paths.gz


class FileEstimate(NamedTuple):
    """About how many inputs a WARC file holds, before it is indexed."""

    source: str
    records: int


class FileUnchanged(NamedTuple):
    """A WARC file loaded before and unchanged: its ``records`` inputs are skipped unread."""

    source: str
    records: int


class FileIndexed(NamedTuple):
    """A WARC file fully indexed: its state, written to source_state with its records."""

    source: str
    fingerprint: str


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


def is_warc_source(source: str) -> bool:
    """An http(s) URL of a WARC file or of a paths listing, or a local paths listing."""
    path = urlsplit(source).path if "://" in source else source
    if "://" in source and not source.lower().startswith(("http://", "https://")):
        return False
    return bool(LISTING.search(path)) or ("://" in source and bool(_WARC_URL.search(path)))


def split_sources(sources: Sequence[str]) -> tuple[list[str], list[str]]:
    """The sources split into local ones (files, folders, globs) and web ones (URLs, WARCs)."""
    web = [s for s in sources if is_web_source(s) or is_warc_source(s)]
    return [s for s in sources if s not in web], web


def check_all(sources: Sequence[str]) -> None:
    """Fail before a run if a local SOURCE matches nothing (URLs are checked by fetching)."""
    files, _ = split_sources(sources)
    check_sources(files)


def count_local(sources: Sequence[str]) -> int:
    """How many files the local sources hold (the progress bar's first total)."""
    files, _ = split_sources(sources)
    return count_files(files)


class KnownStates(Lookup[str], Protocol):
    """What earlier runs remember of sources: one at a time, or a chunk in one question."""

    def fingerprints(self, sources: Sequence[str]) -> dict[str, str]:
        """The remembered fingerprints of those ``sources`` that have one, in one question."""

    def remember(self, source: str, state: str | None) -> None:
        """Remember ``source``'s state for this run's lookups."""


class NothingKnown:
    """A warehouse with no earlier runs (tests, a first run)."""

    def get(self, source: str, /) -> str | None:
        """Nothing is known of any source."""
        return None

    def fingerprints(self, sources: Sequence[str]) -> dict[str, str]:
        """No fingerprints: every source is new."""
        return {}

    def remember(self, source: str, state: str | None) -> None:
        """Forget it: there is nowhere to keep it."""
        pass


def discover(
    sources: Sequence[str],
    options: WebOptions,
    validators: Lookup[Validator],
    known: KnownStates | None = None,
    downloads: Path | None = None,
    warc_base_url: str = WARC_BASE_URL,
    kept_downloads: Sequence[Path] = (),
) -> Iterator[Discovered]:
    """Every source's inputs, files first. Remote WARCs are downloaded into ``downloads``,
    resuming the partial files a killed run left in the folders ``kept_downloads``."""
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
        yield from discover_remote_warcs(
            warcs, options, known, folder, warc_base_url, kept_downloads
        )
    if web:
        from flows.extract.web.discover import discover_web  # the HTTP stack, only when needed

        yield from discover_web(web, options, validators)


# --- a WARC file: skipped when unchanged, else indexed, then remembered -----------------

_STATE = "warc:"  # prefix of a WARC file's fingerprint in source_state (with its count)


def file_state(fingerprint: str, records: int) -> str:
    """A WARC file's entry in source_state: its fingerprint and how many inputs it held."""
    return f"{_STATE}{fingerprint}:{records}"


def unchanged_records(known: Lookup[str], source: str, fingerprint: str) -> int | None:
    """How many inputs a WARC file loaded before held, if it has not changed since."""
    state, prefix = known.get(source) or "", file_state(fingerprint, 0)[:-1]
    count = state[len(prefix) :] if state.startswith(prefix) else ""
    return int(count) if count.isdigit() else None


def discover_warc(
    path: str, source: str, fingerprint: str, known: Lookup[str]
) -> Iterator[Found | FileIndexed | FileUnchanged | FileEstimate]:
    """A WARC file's inputs, then its state for source_state; or only its count, unchanged."""
    count = unchanged_records(known, source, fingerprint)
    if count is not None:
        yield FileUnchanged(source, count)
        return
    count = 0
    try:
        yield FileEstimate(source, estimate_records(path, source))
        for item in index_warc(path, source, fingerprint):
            count += 1
            yield item
    except OSError as exc:  # the file itself went away or became unreadable
        yield Rejection(source, RejectReason.READ_ERROR, f"{type(exc).__name__}: {exc}")
        return
    except Exception as exc:  # isolation: the records read so far stay inputs
        yield internal_error(source, exc)
        return  # not remembered: the next run indexes the file again
    yield FileIndexed(source, file_state(fingerprint, count))


def estimate_records(path: str, source: str, sample: int = 64) -> int:
    """How many inputs a WARC file holds, from the spacing of its first ones (the batches'
    tail is cut by it, so every core finishes at about the same time)."""
    offsets = []
    for item in index_warc(path, source):
        if isinstance(item, WorkUnit):
            offsets.append(int(item.meta["warc_offset"]))
        if len(offsets) == sample:
            break
    if len(offsets) < sample:
        return len(offsets)
    spacing = (offsets[-1] - offsets[0]) / (len(offsets) - 1)
    return max(len(offsets), round(os.path.getsize(path) / spacing)) if spacing else sample
