"""Web sources -> work units: pages, RSS/Atom feeds and sitemaps, fetched politely and
incrementally. ``discover_web`` is the entry point the flow calls.

Besides WorkUnit, Rejection and NotModified, the stream carries a ``Validator`` for every
feed or sitemap whose items were all handled (none failed transiently): the warehouse stores
it so the next poll of that document is conditional. Pages carry theirs in ``WorkUnit.meta``
and ``fingerprint``.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from flows.core.units import Lookup, Rejection, RejectReason, WorkUnit, internal_error
from flows.core.urls import normalize_url, url_problem
from flows.extract.web.body import BadEncoding, TooLarge, gunzip
from flows.extract.web.bridge import Emit, iterate_in_thread
from flows.extract.web.feeds import FeedError, FeedItem, parse_feed
from flows.extract.web.fetch import Failed, Fetched, Fetcher, WebStats
from flows.extract.web.options import NotModified, Validator, WebOptions
from flows.extract.web.sitemaps import SitemapError, parse_sitemap
from flows.extract.web.sniff import GZIP_MAGIC, Kind, classify
from flows.extract.web.sources import expand_sources, is_web_source

__all__ = [
    "NotModified",
    "Validator",
    "WebOptions",
    "WebStats",
    "discover_web",
    "is_web_source",
]

log = logging.getLogger(__name__)

MAX_SITEMAP_DEPTH = 3  # index -> index -> index -> sitemap
MAX_PAGES_PER_SOURCE = 100_000  # pages one root source (a sitemap tree) may contribute
# How far fetching may run ahead of the consumer: a few batches' worth, and bounded memory.
AHEAD_ITEMS = 64
AHEAD_BYTES = 64 * 1024 * 1024

WebItem = WorkUnit | Rejection | NotModified | Validator


class _Role(enum.Enum):
    ROOT = "root"  # a source the user named: page, feed or sitemap, told by the response
    SITEMAP = "sitemap"  # listed in a sitemap index
    PAGE = "page"  # a feed item's link or a sitemap's URL


@dataclass(slots=True)
class _Group:
    """A fetched feed or sitemap. Its Validator is emitted once every child has settled, and
    only if none failed transiently (timeout, 5xx...), so a partly failed poll is redone."""

    validator: Validator
    parent: _Group | None
    budget: list[int]  # pages left for the whole tree, shared with nested sitemaps
    pending: int = 1  # the group's own hold, released once all children are queued
    failed: bool = False


@dataclass(slots=True)
class _Job:
    url: str
    role: _Role
    group: _Group | None = None
    depth: int = 0
    title: str | None = None
    published: datetime | None = None
    published_source: str | None = None
    meta: dict[str, str] = field(default_factory=dict)
    root_slot: asyncio.Semaphore | None = None


class _Crawl:
    def __init__(
        self, options: WebOptions, validators: Lookup[Validator], emit: Emit, stats: WebStats
    ) -> None:
        self.options = options
        self.validators = validators
        self._emit = emit
        self.stats = stats
        self.fetcher = Fetcher(options, stats)
        self._seen: set[str] = set()  # each URL is handled once per run
        # One FIFO and at most per_host_concurrency runners per host: a slow host never
        # holds up the others (no head-of-line blocking), and memory is a deque of jobs.
        self._queues: dict[str, deque[_Job]] = {}
        self._runners: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._outstanding = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._error: BaseException | None = None
        self._main: asyncio.Task[object] | None = None

    async def emit(self, item: WebItem) -> None:
        if isinstance(item, WorkUnit):
            self.stats.units += 1
        elif isinstance(item, Rejection):
            self.stats.rejected += 1
        await self._emit(item)

    async def run(self, sources: Iterable[str]) -> None:
        self._main = asyncio.current_task()
        roots = asyncio.Semaphore(max(4, self.options.global_concurrency * 2))
        try:
            for source in expand_sources(sources):
                if isinstance(source, Rejection):
                    await self.emit(source)
                    continue
                await roots.acquire()  # bounds how far we read ahead in a long URL list
                if not self._submit(_Job(normalize_url(source), _Role.ROOT, root_slot=roots)):
                    roots.release()
            await self._idle.wait()
        except asyncio.CancelledError:
            if self._error is None:
                raise
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.fetcher.aclose()
        if self._error is not None:
            raise self._error

    def _submit(self, job: _Job) -> bool:
        if job.url in self._seen:
            log.debug("skipping %s: already handled in this run", job.url)
            return False
        self._seen.add(job.url)
        if job.group is not None:
            job.group.pending += 1
        host = _host(job.url)
        self._queues.setdefault(host, deque()).append(job)
        self._outstanding += 1
        self._idle.clear()
        if self._runners.get(host, 0) < self.options.per_host_concurrency:
            self._runners[host] = self._runners.get(host, 0) + 1
            task = asyncio.create_task(self._drain(host))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return True

    async def _drain(self, host: str) -> None:
        queue = self._queues[host]
        try:
            while queue:
                await self._process(queue.popleft())
                self._outstanding -= 1
                if self._outstanding == 0:
                    self._idle.set()
        except Exception as exc:  # a bug outside one URL's handling: end the run loudly
            self._error = exc
            if self._main is not None:
                self._main.cancel()
            raise
        finally:
            self._runners[host] -= 1

    async def _process(self, job: _Job) -> None:
        try:
            failed = await self._run(job)
        except Exception as exc:  # a bug on one URL must not end the run
            await self.emit(internal_error(job.url, exc))
            failed = True
        if job.root_slot is not None:
            job.root_slot.release()
        if job.group is not None:
            await self._settle(job.group, failed)

    async def _settle(self, group: _Group, failed: bool) -> None:
        group.failed = group.failed or failed
        group.pending -= 1
        if group.pending:
            return
        if not group.failed:
            await self.emit(group.validator)
        if group.parent is not None:
            await self._settle(group.parent, group.failed)

    async def _run(self, job: _Job) -> bool:
        """Fetch and handle one job; True if it failed transiently."""
        stored = self.validators.get(job.url)
        outcome = await self.fetcher.fetch(job.url, stored)
        if isinstance(outcome, NotModified):
            await self.emit(outcome)
            return False
        if isinstance(outcome, Failed):
            await self.emit(Rejection(job.url, outcome.reason, outcome.detail))
            return outcome.transient
        body = outcome.body
        if job.role is not _Role.PAGE and body.startswith(GZIP_MAGIC):
            try:  # a sitemap.xml.gz is served gzipped without Content-Encoding
                body = await asyncio.to_thread(gunzip, body, self.options.max_bytes)
            except (TooLarge, BadEncoding) as exc:
                reason = (
                    RejectReason.TOO_LARGE
                    if isinstance(exc, TooLarge)
                    else RejectReason.FETCH_ERROR
                )
                await self.emit(Rejection(job.url, reason, f"gzip file: {exc}"))
                return False
        kind = classify(outcome.content_type, body)
        if kind is Kind.OTHER:
            detail = f"content type {outcome.content_type!r}"
            await self.emit(Rejection(job.url, RejectReason.NOT_HTML, detail))
            return False
        if job.role is _Role.SITEMAP and kind is not Kind.SITEMAP:
            detail = f"expected a sitemap, got a {kind.value}"
            await self.emit(Rejection(job.url, RejectReason.PARSE_ERROR, detail))
            return False
        unchanged = stored is not None and stored.content_hash == outcome.sha256
        if unchanged:
            await self._unchanged(job, outcome, stored)
        elif job.role is _Role.PAGE or kind is Kind.PAGE:
            await self._page(job, outcome)
        elif kind is Kind.FEED:
            await self._feed(job, outcome, body)
        else:
            await self._sitemap(job, outcome, body)
        return False

    async def _unchanged(self, job: _Job, fetched: Fetched, stored: Validator | None) -> None:
        self.stats.not_modified += 1
        fresh = fetched.validator()
        if stored is None or (fresh.etag, fresh.last_modified) != (
            stored.etag,
            stored.last_modified,
        ):
            await self.emit(fresh)  # same content, new validators: remember them
        await self.emit(NotModified(job.url))

    async def _page(self, job: _Job, fetched: Fetched) -> None:
        meta = dict(job.meta)
        for key, header in (("etag", "etag"), ("last_modified", "last-modified")):
            if fetched.headers.get(header):
                meta[key] = fetched.headers[header]
        unit = WorkUnit(
            source=job.url,
            data=fetched.body,
            url=fetched.url,
            title=job.title,
            published=job.published,
            published_source=job.published_source if job.published else None,
            charset=fetched.charset,
            content_type=fetched.content_type,
            fingerprint=fetched.sha256,
            meta=meta,
        )
        await self.emit(unit)

    def _group(self, job: _Job, fetched: Fetched) -> _Group:
        # The new group takes the job's place in its parent: it settles the parent when its
        # own children are done, so the job itself must not.
        parent, job.group = job.group, None
        budget = parent.budget if parent is not None else [MAX_PAGES_PER_SOURCE]
        return _Group(fetched.validator(), parent, budget)

    async def _feed(self, job: _Job, fetched: Fetched, body: bytes) -> None:
        try:
            items = await asyncio.to_thread(parse_feed, body, fetched.url, fetched.charset)
        except FeedError as exc:
            await self.emit(Rejection(job.url, RejectReason.PARSE_ERROR, str(exc)))
            return
        group = self._group(job, fetched)
        for item in items:
            await self._feed_item(job, item, group)
        await self._settle(group, False)

    async def _feed_item(self, job: _Job, item: FeedItem, group: _Group) -> None:
        if item.link is None:
            detail = f"feed item without a link: {item.title!r}"
            await self.emit(Rejection(job.url, RejectReason.NO_URL, detail))
            return
        link = normalize_url(item.link)
        meta = {"feed": job.url}
        if item.content is None:  # a summary only: the page holds the article
            known = {"title": item.title, "published": item.published}
            self._submit(_Job(link, _Role.PAGE, group, published_source="feed", meta=meta, **known))
            return
        if link in self._seen:
            return
        self._seen.add(link)
        problem = url_problem(link)
        if problem is not None:
            await self.emit(Rejection(link, RejectReason.BAD_URL, problem))
            return
        fingerprint = item.fingerprint
        stored = self.validators.get(link)
        if stored is not None and stored.content_hash == fingerprint:
            self.stats.not_modified += 1
            await self.emit(NotModified(link))
            return
        if item.image:
            meta["image"] = item.image
        unit = WorkUnit(
            source=link,
            data=item.document(),
            url=link,
            title=item.title,
            published=item.published,
            published_source="feed" if item.published else None,
            charset="utf-8",
            content_type="text/html",
            fingerprint=fingerprint,
            meta=meta,
        )
        await self.emit(unit)

    async def _sitemap(self, job: _Job, fetched: Fetched, body: bytes) -> None:
        try:
            entries = await asyncio.to_thread(lambda: list(parse_sitemap(body, fetched.url)))
        except SitemapError as exc:
            await self.emit(Rejection(job.url, RejectReason.PARSE_ERROR, str(exc)))
            return
        group = self._group(job, fetched)
        for entry in entries:
            if entry.is_sitemap:
                if job.depth + 1 > MAX_SITEMAP_DEPTH:
                    detail = f"sitemap indexes nested deeper than {MAX_SITEMAP_DEPTH}"
                    await self.emit(Rejection(entry.loc, RejectReason.PARSE_ERROR, detail))
                    continue
                child = _Job(normalize_url(entry.loc), _Role.SITEMAP, group, depth=job.depth + 1)
                self._submit(child)
                continue
            if group.budget[0] <= 0:
                detail = f"more than {MAX_PAGES_PER_SOURCE} pages in this sitemap tree"
                await self.emit(Rejection(job.url, RejectReason.TOO_LARGE, detail))
                break
            page = _Job(
                normalize_url(entry.loc),
                _Role.PAGE,
                group,
                title=entry.title,
                published=entry.published,
                published_source="sitemap",
                meta={"sitemap": job.url},
            )
            if self._submit(page):
                group.budget[0] -= 1
        await self._settle(group, False)


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:  # malformed: the fetch rejects it as bad_url
        return ""


def _weight(item: object) -> int:
    return len(item.data or b"") if isinstance(item, WorkUnit) else 0


def discover_web(
    sources: Iterable[str],
    options: WebOptions | None = None,
    validators: Lookup[Validator] | None = None,
    *,
    stats: WebStats | None = None,
) -> Iterator[WebItem]:
    """Fetch ``sources`` (URLs, or files listing them) and yield what they hold, as it
    arrives. ``validators`` (keyed by requested URL) make requests conditional; ``stats``
    is filled with counters for the run."""
    if isinstance(sources, str):  # one URL, not an iterable of characters
        sources = [sources]
    options = options or WebOptions()
    stats = stats if stats is not None else WebStats()
    started = time.monotonic()

    async def produce(emit: Emit) -> None:
        await _Crawl(options, validators or {}, emit, stats).run(sources)

    seq = 0
    try:
        ahead = iterate_in_thread(produce, _weight, AHEAD_ITEMS, AHEAD_BYTES, "article-etl-web")
        for item in ahead:
            if isinstance(item, WorkUnit | Rejection):
                item.seq = seq
                seq += 1
            yield item
    finally:
        stats.elapsed_s = time.monotonic() - started
        log.info(
            "web: %d requests, %d units, %d not modified, %d rejected in %.2f s",
            stats.requests,
            stats.units,
            stats.not_modified,
            stats.rejected,
            stats.elapsed_s,
        )
