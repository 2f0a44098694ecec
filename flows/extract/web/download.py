"""Web archives over HTTP: a ``.warc(.gz)`` URL or a ``warc.paths.gz`` listing (Common Crawl's
form: paths relative to a base URL), each file downloaded into the run's folder, indexed like
a local file and removed once its batches are done.

Every request goes through the fetcher that pages use, so the same rules apply: robots.txt,
per-host pacing and Crawl-delay, retries with Retry-After capped, the guarded transport and
User-Agent. A file is streamed to disk, resumed with a Range request where it stopped, its
length checked, and renamed into place only once complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import httpx

from flows.core.atomic import real_dir, regular_file
from flows.core.settings import WARC_MAX_BYTES
from flows.core.units import Lookup, Rejection, RejectReason, WorkUnit, internal_error
from flows.extract.decompress import BadEncoding, TooLarge, read_bounded
from flows.extract.discover import (
    LISTING,
    FileEstimate,
    FileIndexed,
    FileUnchanged,
    discover_warc,
    unchanged_records,
)
from flows.extract.web.bridge import LoopThread
from flows.extract.web.fetch import Failed, Fetched, Fetcher
from flows.extract.web.options import WebOptions

LISTING_MAX_BYTES = 64 * 1024 * 1024


class RemoteFiles:
    """The fetcher, for plain code that waits for each answer (the indexer reads one
    downloaded file at a time): it runs on an event loop in a helper thread."""

    def __init__(self, options: WebOptions) -> None:
        self._loop = LoopThread("article-etl-warc")
        try:
            self._fetcher = self._loop.run(_new_fetcher(options))
        except BaseException:
            self._loop.close()
            raise

    def head(self, url: str) -> Fetched | Failed:
        """The remote file's final URL and headers."""
        return self._loop.run(self._fetcher.head(url))

    def listing(self, url: str) -> bytes | Failed:
        """A listing's bytes, streamed and decompressed (its Content-Encoding and its own
        gzip) up to ``LISTING_MAX_BYTES``."""
        outcome = self._loop.run(
            self._fetcher.fetch(url, max_bytes=LISTING_MAX_BYTES, unwrap_gzip=True)
        )
        return outcome.body if isinstance(outcome, Fetched) else _failed(outcome)

    def download(self, url: str, dest: Path, max_bytes: int = WARC_MAX_BYTES) -> Path | Failed:
        """``url`` saved as ``dest`` (see ``Fetcher.download``)."""
        return self._loop.run(self._fetcher.download(url, dest, max_bytes))

    def close(self) -> None:
        """Close the fetcher's connections and its loop."""
        try:
            self._loop.run(self._fetcher.aclose())
        finally:
            self._loop.close()

    def __enter__(self) -> RemoteFiles:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


async def _new_fetcher(options: WebOptions) -> Fetcher:
    return Fetcher(options)  # made on the loop that will use it


def _failed(outcome: Failed | object) -> Failed:
    assert isinstance(outcome, Failed), outcome  # a plain GET is never NotModified
    return outcome


def remote_fingerprint(headers: httpx.Headers) -> str | None:
    """What says a remote file changed: its ETag or Last-Modified, with its length."""
    tag = headers.get("etag") or headers.get("last-modified")
    size = headers.get("content-length", "")
    return f"{tag}|{size}" if tag and size.isdigit() else None


def download_name(url: str, fingerprint: str | None) -> str:
    """The local name of a download: its URL's and (when the server gave one) its version's
    hash, so that a killed run's partial file is resumed only for the same bytes."""
    name = hashlib.blake2b(url.encode(), digest_size=8).hexdigest()
    if fingerprint is not None:
        name += "-" + hashlib.blake2b(fingerprint.encode(), digest_size=8).hexdigest()
    return name + (".warc.gz" if url.lower().endswith(".gz") else ".warc")


def adopt(kept: Sequence[Path], dest: Path) -> None:
    """Take over what a killed run downloaded of the same file, from the folders ``kept``
    (the caller keeps them), as the partial download that the next download resumes. Only a
    regular file inside a real folder is taken: never one reached through a symlink."""
    for folder in kept:
        if not real_dir(folder):
            continue
        for name in (dest.name, dest.name + ".part"):
            found = folder / name
            if regular_file(found):
                with contextlib.suppress(OSError):
                    os.replace(found, dest.with_name(dest.name + ".part"))
                    return


def _listing_lines(data: bytes) -> list[str]:
    lines = (line.strip() for line in data.decode("utf-8", errors="replace").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _read_listing(source: str, remote: RemoteFiles) -> bytes | Failed:
    if "://" in source:
        return remote.listing(source)
    try:
        return read_bounded(source, LISTING_MAX_BYTES)
    except TooLarge as exc:
        return Failed(RejectReason.TOO_LARGE, str(exc))
    except BadEncoding as exc:  # a gzip listing cut short, or not gzip after all
        return Failed(RejectReason.READ_ERROR, str(exc))
    except OSError as exc:
        return Failed(RejectReason.READ_ERROR, f"{type(exc).__name__}: {exc}")


def warc_urls(source: str, base_url: str, remote: RemoteFiles) -> Iterator[str | Rejection]:
    """The WARC URLs a source names: itself, or each line of a listing joined to the base."""
    path = urlsplit(source).path if "://" in source else source
    if not LISTING.search(path):
        yield source
        return
    try:
        data = _read_listing(source, remote)
    except Exception as exc:  # isolation: the run's other sources are still read
        yield internal_error(source, exc)
        return
    if isinstance(data, Failed):
        what = "too large" if data.reason == RejectReason.TOO_LARGE else "unreadable"
        yield Rejection(source, data.reason, f"paths listing {what}: {data.detail}"[:500])
        return
    base = base_url if base_url.endswith("/") else base_url + "/"
    for line in _listing_lines(data):
        yield line if "://" in line else urljoin(base, line.lstrip("/"))


def discover_remote_warcs(
    sources: list[str],
    options: WebOptions,
    known: Lookup[str],
    downloads: Path,
    base_url: str,
    kept: Sequence[Path] = (),
) -> Iterator[WorkUnit | Rejection | FileIndexed | FileUnchanged | FileEstimate]:
    """Each remote WARC: skipped when unchanged (by a HEAD request), else downloaded into
    ``downloads`` (resuming a killed run's partial file from ``kept``) and indexed. A file
    that cannot be downloaded is one rejected input."""
    downloads.mkdir(parents=True, exist_ok=True)
    with RemoteFiles(options) as remote:
        for source in sources:
            for url in warc_urls(source, base_url, remote):
                if isinstance(url, Rejection):
                    yield url
                    continue
                try:
                    found = _download(url, remote, known, downloads, kept)
                except Exception as exc:  # isolation: the listing's other files are still read
                    yield internal_error(url, exc)
                    continue
                if isinstance(found, (Rejection, FileUnchanged)):  # FileUnchanged: a tuple too
                    yield found
                    continue
                local, fingerprint = found
                for item in discover_warc(str(local.absolute()), url, fingerprint or "", {}):
                    if isinstance(item, WorkUnit):
                        item.meta["downloaded"] = "1"
                    if isinstance(item, FileIndexed) and fingerprint is None:
                        continue  # nothing to tell a changed file by: index it again next time
                    yield item


def _download(
    url: str, remote: RemoteFiles, known: Lookup[str], downloads: Path, kept: Sequence[Path]
) -> tuple[Path, str | None] | Rejection | FileUnchanged:
    """The downloaded file and its fingerprint; or why not, or that it is unchanged."""
    head = remote.head(url)
    if isinstance(head, Failed):
        return Rejection(url, head.reason, head.detail[:500])
    fingerprint = remote_fingerprint(head.headers)
    if fingerprint is not None:
        count = unchanged_records(known, url, fingerprint)
        if count is not None:
            return FileUnchanged(url, count)
    if not real_dir(downloads):  # written only inside a folder of our own
        return Rejection(url, RejectReason.READ_ERROR, f"{downloads} is not a real folder")
    dest = downloads / download_name(url, fingerprint)
    if fingerprint is not None:
        adopt(kept, dest)
    local = remote.download(url, dest)
    if isinstance(local, Failed):
        return Rejection(url, local.reason, local.detail[:500])
    return local, fingerprint
