"""Web archives over HTTP: a ``.warc(.gz)`` URL or a ``warc.paths.gz`` listing (Common Crawl's
form: paths relative to a base URL), each file downloaded to staging with resume, its length
checked, then indexed like a local file and removed once its batches are done.

The same guarded transport and User-Agent as every other request (no private addresses unless
allowed, no proxies from the environment); retries with backoff on connection errors, 429
and 5xx, each retry resuming with an HTTP Range request where the download stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import random
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from flows.core.atomic import real_dir, regular_file
from flows.core.settings import RESUME_DIRNAME, WARC_MAX_BYTES
from flows.core.units import Lookup, Rejection, RejectReason, WorkUnit, internal_error
from flows.extract.warc import (
    LISTING,
    FileIndexed,
    FileUnchanged,
    discover_warc,
    unchanged_records,
)
from flows.extract.web.body import (
    BadEncoding,
    BoundedDecoder,
    SniffingDecoder,
    TooLarge,
    read_bounded,
)
from flows.extract.web.netguard import BlockedAddressError, make_transport
from flows.extract.web.options import WebOptions

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
LISTING_MAX_BYTES = 64 * 1024 * 1024
_CHUNK = 1 << 20
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class DownloadError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _client(options: WebOptions) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=2, max_keepalive_connections=2)
    return httpx.AsyncClient(
        transport=make_transport(options.allow_private_network, limits),
        timeout=httpx.Timeout(options.read_timeout_s, connect=options.connect_timeout_s),
        headers={"User-Agent": options.user_agent},
        follow_redirects=True,
        trust_env=False,
    )


def _in_thread(coro: Any) -> Any:
    """Run a coroutine on its own loop in a helper thread (the flow may already run a loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _fingerprint(headers: httpx.Headers, size: int | None) -> str | None:
    """What says a remote file changed: its ETag or Last-Modified, with its length."""
    tag = headers.get("etag") or headers.get("last-modified")
    return f"{tag}|{size}" if tag and size is not None else None


class Downloader:
    """One client for a run's WARC downloads; requests to a host at least ``min_delay_s``
    apart."""

    def __init__(self, options: WebOptions, max_bytes: int = WARC_MAX_BYTES) -> None:
        self.options, self.max_bytes = options, max_bytes
        self._last_start = 0.0

    async def _pause(self) -> None:
        wait = self._last_start + self.options.min_delay_s - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last_start = time.monotonic()

    async def _retrying(self, attempt: Any) -> Any:
        for tries in range(self.options.retries + 1):
            await self._pause()
            try:
                return await attempt()
            except (httpx.TransportError, _Retry) as exc:
                if tries == self.options.retries:
                    raise DownloadError(
                        RejectReason.HTTP_ERROR, f"{type(exc).__name__}: {exc}"
                    ) from exc
                await asyncio.sleep(self.options.backoff_s * 2**tries * random.uniform(0.5, 1.5))
        raise AssertionError("unreachable")

    def head(self, url: str) -> str | None:
        """The remote file's fingerprint (None when the server gives none)."""

        async def run() -> str | None:
            async with _client(self.options) as client:

                async def attempt() -> str | None:
                    response = await client.head(url)
                    _check_status(response)
                    length = response.headers.get("content-length")
                    return _fingerprint(response.headers, int(length) if length else None)

                return await self._retrying(attempt)

        return _guarded(lambda: _in_thread(run()))

    def listing(self, url: str) -> list[str]:
        """A remote listing's lines, streamed: its Content-Encoding and its own gzip are
        decompressed chunk by chunk, the size limit applied to the decompressed bytes."""

        async def run() -> bytes:
            async with _client(self.options) as client:

                async def attempt() -> bytes:
                    async with client.stream("GET", url) as response:
                        _check_status(response)
                        return await _bounded_body(response, LISTING_MAX_BYTES)

                return await self._retrying(attempt)

        return _listing_lines(_guarded(lambda: _in_thread(run())))

    def fetch(self, url: str, dest: Path) -> Path:
        """Download ``url`` to ``dest``, resuming a partial ``dest.part``; its length checked."""
        part = dest.with_name(dest.name + ".part")

        async def run() -> None:
            async with _client(self.options) as client:
                await self._retrying(lambda: self._fetch_once(client, url, part))

        try:
            _guarded(lambda: _in_thread(run()))
        except DownloadError as exc:
            if exc.reason == RejectReason.TOO_LARGE:
                part.unlink(missing_ok=True)  # never resumed: the file is refused
            raise
        part.replace(dest)
        return dest

    async def _fetch_once(self, client: httpx.AsyncClient, url: str, part: Path) -> None:
        have = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        async with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 416 and have:
                return  # nothing left to fetch: the part is complete
            _check_status(response)
            if response.status_code == 206:
                match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
                if not match or int(match.group(1)) != have:
                    raise DownloadError(RejectReason.HTTP_ERROR, "server resumed elsewhere")
                total = int(match.group(3)) if match.group(3) != "*" else None
                mode = "ab"
            else:  # the whole file again: the server ignored the Range
                length = response.headers.get("content-length")
                total, have, mode = (int(length) if length else None), 0, "wb"
            if total is not None and total > self.max_bytes:
                raise DownloadError(
                    RejectReason.TOO_LARGE, f"{total} bytes, over the {self.max_bytes} limit"
                )
            with open(part, mode) as out:
                async for chunk in response.aiter_raw(_CHUNK):
                    out.write(chunk)
                    have += len(chunk)
                    if have > self.max_bytes:
                        raise DownloadError(
                            RejectReason.TOO_LARGE, f"over the {self.max_bytes} byte limit"
                        )
        if total is not None and have != total:
            raise _Retry(f"got {have} of {total} bytes")


class _Retry(Exception):
    """A download cut short: try again from where it stopped."""


def download_name(url: str, fingerprint: str | None) -> str:
    """The local name of a download: its URL's and (when the server gave one) its version's
    hash, so that a killed run's partial file is resumed only for the same bytes."""
    name = hashlib.blake2b(url.encode(), digest_size=8).hexdigest()
    if fingerprint is not None:
        name += "-" + hashlib.blake2b(fingerprint.encode(), digest_size=8).hexdigest()
    return name + (".warc.gz" if url.lower().endswith(".gz") else ".warc")


def adopt(kept: Path, dest: Path) -> None:
    """Take over what a killed run downloaded of the same file (flows/load/resume.py keeps it), as
    the partial download that ``fetch`` resumes with a Range request."""
    if not real_dir(kept):
        return
    for found in sorted(kept.glob(f"*/downloads/{dest.name}*")):
        # The file itself inside its own folders: appending through a symlink would write
        # wherever it points.
        inside = real_dir(found.parent) and real_dir(found.parent.parent)
        if found.name in (dest.name, dest.name + ".part") and inside and regular_file(found):
            with contextlib.suppress(OSError):
                os.replace(found, dest.with_name(dest.name + ".part"))
                return


def _check_status(response: httpx.Response) -> None:
    if response.status_code in _RETRY_STATUS:
        raise _Retry(f"HTTP {response.status_code}")
    if response.status_code >= 400:
        raise DownloadError(RejectReason.HTTP_ERROR, f"HTTP {response.status_code}")


def _guarded(call: Any) -> Any:
    try:
        return call()
    except BlockedAddressError as exc:
        raise DownloadError(RejectReason.BLOCKED_ADDRESS, str(exc)) from exc
    except httpx.HTTPError as exc:
        raise DownloadError(RejectReason.HTTP_ERROR, f"{type(exc).__name__}: {exc}") from exc
    except OSError as exc:
        raise DownloadError(RejectReason.READ_ERROR, f"{type(exc).__name__}: {exc}") from exc


async def _bounded_body(response: httpx.Response, limit: int) -> bytes:
    try:
        transfer = BoundedDecoder(response.headers.get("content-encoding", ""), limit)
        listing = SniffingDecoder(limit)
        out: list[bytes] = []
        async for chunk in response.aiter_raw(_CHUNK):
            out.append(listing.decode(transfer.decode(chunk)))
        out.append(listing.decode(transfer.flush()) + listing.flush())
    except TooLarge as exc:
        raise DownloadError(RejectReason.TOO_LARGE, f"paths listing too large: {exc}") from exc
    except BadEncoding as exc:
        raise DownloadError(RejectReason.READ_ERROR, f"paths listing: {exc}") from exc
    return b"".join(out)


def _local_listing(path: str) -> bytes:
    try:
        return read_bounded(path, LISTING_MAX_BYTES)
    except TooLarge as exc:
        raise DownloadError(RejectReason.TOO_LARGE, f"paths listing too large: {exc}") from exc
    except BadEncoding as exc:  # a gzip listing cut short, or not gzip after all
        raise DownloadError(RejectReason.READ_ERROR, f"paths listing: {exc}") from exc


def _listing_lines(data: bytes) -> list[str]:
    lines = (line.strip() for line in data.decode("utf-8", errors="replace").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def warc_urls(source: str, base_url: str, downloader: Downloader) -> Iterator[str | Rejection]:
    """The WARC URLs a source names: itself, or each line of a listing joined to the base."""
    path = urlsplit(source).path if "://" in source else source
    if not LISTING.search(path):
        yield source
        return
    try:
        if "://" in source:
            lines = downloader.listing(source)
        else:
            lines = _listing_lines(_local_listing(source))
    except (DownloadError, OSError) as exc:
        reason = getattr(exc, "reason", RejectReason.READ_ERROR)
        yield Rejection(source, reason, str(exc)[:500])
        return
    except Exception as exc:  # isolation: the run's other sources are still read
        yield internal_error(source, exc)
        return
    base = base_url if base_url.endswith("/") else base_url + "/"
    for line in lines:
        yield line if "://" in line else urljoin(base, line.lstrip("/"))


def discover_remote_warcs(
    sources: list[str],
    options: WebOptions,
    known: Lookup[str],
    downloads: Path,
    base_url: str,
) -> Iterator[WorkUnit | Rejection | FileIndexed | FileUnchanged]:
    """Each remote WARC: skipped when unchanged (by a HEAD request), else downloaded and
    indexed. A file that cannot be downloaded is one rejected input."""
    downloader = Downloader(options)
    downloads.mkdir(parents=True, exist_ok=True)
    for source in sources:
        for url in warc_urls(source, base_url, downloader):
            if isinstance(url, Rejection):
                yield url
                continue
            try:
                fingerprint = downloader.head(url)
                if fingerprint is not None:
                    count = unchanged_records(known, url, fingerprint)
                    if count is not None:
                        yield FileUnchanged(url, count)
                        continue
                dest = downloads / download_name(url, fingerprint)
                if fingerprint is not None:
                    adopt(downloads.parent.parent / RESUME_DIRNAME, dest)
                local = downloader.fetch(url, dest)
            except DownloadError as exc:
                yield Rejection(url, exc.reason, exc.detail[:500])
                continue
            except Exception as exc:  # isolation: the listing's other files are still read
                yield internal_error(url, exc)
                continue
            items = discover_warc(str(local.absolute()), url, fingerprint or "", {})
            for item in items:
                if isinstance(item, WorkUnit):
                    item.meta["downloaded"] = "1"
                if isinstance(item, FileIndexed) and fingerprint is None:
                    continue  # nothing to tell a changed file by: index it again next time
                yield item
