"""The HTTP client: politeness (robots.txt, per-host and global limits), conditional requests,
manual redirects, retries with backoff, timeouts and size limits. Faults become ``Failed``."""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import logging
import random
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx

from flows.core.units import RejectReason
from flows.core.urls import normalize_url, url_problem
from flows.extract.web.body import BadEncoding, BoundedDecoder, TooLarge, Truncated
from flows.extract.web.limiter import HostBackoff, HostLimiter
from flows.extract.web.netguard import BlockedAddressError, make_transport
from flows.extract.web.options import NotModified, Validator, WebOptions
from flows.extract.web.robots import (
    ROBOTS_MAX_BYTES,
    RobotsCache,
    RobotsRules,
    allow_all,
    disallow_all,
    parse_robots,
)

log = logging.getLogger(__name__)

ACCEPT = (
    "text/html,application/xhtml+xml,application/rss+xml,application/atom+xml,"
    "application/xml;q=0.9,text/xml;q=0.9,*/*;q=0.8"
)
REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_BACKOFF_S = 30.0
# Bound on one attempt after connecting: a server dripping a byte just within the read
# timeout would otherwise hold a slot forever.
TOTAL_READ_FACTOR = 4


@dataclass(slots=True)
class WebStats:
    """Counters of one discover_web run (requests include robots.txt and retries)."""

    requests: int = 0
    retries: int = 0
    bytes: int = 0
    not_modified: int = 0
    units: int = 0
    rejected: int = 0
    elapsed_s: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)


@dataclass(slots=True)
class Fetched:
    requested: str
    url: str  # after redirects
    status: int
    headers: httpx.Headers
    body: bytes
    sha256: str = ""

    def __post_init__(self) -> None:
        self.sha256 = self.sha256 or hashlib.sha256(self.body).hexdigest()

    @property
    def content_type(self) -> str | None:
        return parse_content_type(self.headers.get("content-type"))[0]

    @property
    def charset(self) -> str | None:
        return parse_content_type(self.headers.get("content-type"))[1]

    def validator(self) -> Validator:
        return Validator(
            self.requested,
            self.headers.get("etag"),
            self.headers.get("last-modified"),
            self.sha256,
        )


@dataclass(frozen=True, slots=True)
class Failed:
    reason: str
    detail: str
    transient: bool = False  # worth trying again on the next run
    status: int | None = None
    retry_now: bool = False  # a connection failure: retried within this run


def parse_content_type(value: str | None) -> tuple[str | None, str | None]:
    """``text/html; charset="GBK"`` -> ("text/html", "gbk")."""
    if not value:
        return None, None
    media, *params = value.split(";")
    charset = None
    for param in params:
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset" and val.strip().strip("\"'"):
            charset = val.strip().strip("\"'").lower()
    return media.strip().lower() or None, charset


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(slots=True)
class _Attempt:
    status: int
    headers: httpx.Headers
    body: bytes
    retry_after: float | None = None


class Fetcher:
    def __init__(self, options: WebOptions, stats: WebStats | None = None) -> None:
        self.options = options
        self.stats = stats if stats is not None else WebStats()
        slack = options.global_concurrency + options.per_host_concurrency
        limits = httpx.Limits(max_connections=slack, max_keepalive_connections=slack)
        self._client = httpx.AsyncClient(
            transport=make_transport(options.allow_private_network, limits),
            timeout=httpx.Timeout(
                connect=options.connect_timeout_s,
                read=options.read_timeout_s,
                write=options.read_timeout_s,
                pool=None,  # our limiter bounds waiting; the attempt deadline bounds the rest
            ),
            headers={"User-Agent": options.user_agent, "Accept-Encoding": "gzip, deflate"},
            follow_redirects=False,
            trust_env=False,
        )
        self._limiter = HostLimiter(
            options.per_host_concurrency,
            options.global_concurrency,
            options.min_delay_s,
            options.host_wait_cap_s,
        )
        self._robots = RobotsCache(self._load_robots) if options.obey_robots else None

    async def aclose(self) -> None:
        if self._robots is not None:
            await self._robots.aclose()
        await self._client.aclose()

    async def fetch(
        self,
        url: str,
        validator: Validator | None = None,
        *,
        obey_robots: bool = True,
        max_bytes: int | None = None,
        truncate: bool = False,
        retries: int | None = None,
    ) -> Fetched | NotModified | Failed:
        """GET ``url``, following redirects by hand so every hop is checked and counted."""
        requested = url
        headers = {"Accept": ACCEPT}
        conditional = validator is not None and bool(validator.etag or validator.last_modified)
        if validator is not None and validator.etag:
            headers["If-None-Match"] = validator.etag
        if validator is not None and validator.last_modified:
            headers["If-Modified-Since"] = validator.last_modified
        seen = {url}
        for _hop in range(self.options.max_redirects + 1):
            problem = url_problem(url)
            if problem is not None:
                return Failed(RejectReason.BAD_URL, problem)
            if obey_robots and self._robots is not None:
                refusal = await self._robots_refusal(self._robots, url)
                if refusal is not None:
                    return refusal
            outcome = await self._with_retries(
                url, headers, max_bytes or self.options.max_bytes, truncate, retries
            )
            if isinstance(outcome, Failed):
                return outcome
            if outcome.status in REDIRECTS and outcome.headers.get("location"):
                url = normalize_url(urljoin(url, outcome.headers["location"]))
                if url in seen:
                    return Failed(RejectReason.HTTP_ERROR, f"redirect loop at {url}")
                seen.add(url)
                continue
            if outcome.status == 304 and conditional:
                self.stats.not_modified += 1
                return NotModified(requested)
            if not 200 <= outcome.status < 300:
                return Failed(
                    RejectReason.HTTP_ERROR, f"status {outcome.status}", status=outcome.status
                )
            return Fetched(requested, url, outcome.status, outcome.headers, outcome.body)
        return Failed(
            RejectReason.HTTP_ERROR, f"too many redirects (more than {self.options.max_redirects})"
        )

    async def _robots_refusal(self, robots: RobotsCache, url: str) -> Failed | None:
        rules = await robots.rules(url)
        host = urlsplit(url).hostname or ""
        if rules.delay_s is not None:
            self._limiter.raise_delay(host, rules.delay_s)
        if rules.allows(self.options.user_agent, url):
            return None
        # an unreachable robots.txt refuses for now only: the URL is tried again next run
        detail = rules.note or "disallowed by robots.txt"
        return Failed(rules.reason, detail, transient=bool(rules.note))

    async def _load_robots(self, origin: str) -> RobotsRules:
        outcome = await self.fetch(
            f"{origin}/robots.txt",
            obey_robots=False,
            max_bytes=ROBOTS_MAX_BYTES,
            truncate=True,
            retries=min(1, self.options.retries),
        )
        if isinstance(outcome, Fetched):
            text = outcome.body.decode("utf-8", errors="replace")
            return parse_robots(text, self.options.user_agent)
        if isinstance(outcome, Failed) and outcome.status is not None and outcome.transient:
            return disallow_all(f"robots.txt unreachable ({outcome.detail})")
        if isinstance(outcome, Failed) and outcome.transient:
            # the host itself is unreachable: say so rather than blame robots.txt
            return disallow_all(f"robots.txt: {outcome.detail}", outcome.reason)
        # 4xx: no rules. A refused address or URL is reported by the request itself.
        return allow_all()

    async def _with_retries(
        self, url: str, headers: dict[str, str], max_bytes: int, truncate: bool, retries: int | None
    ) -> _Attempt | Failed:
        host = urlsplit(url).hostname or ""
        retries = self.options.retries if retries is None else retries
        for attempt in range(retries + 1):
            outcome = await self._attempt(url, headers, max_bytes, truncate)
            if isinstance(outcome, _Attempt):
                status = outcome.status
                self.stats.statuses[status] = self.stats.statuses.get(status, 0) + 1
                if status != 429 and status < 500:
                    return outcome
                failure = Failed(
                    RejectReason.HTTP_ERROR,
                    f"status {status} after {attempt + 1} attempt(s)",
                    transient=True,
                    status=status,
                )
                wait = outcome.retry_after
                if wait is not None:
                    if wait > self.options.max_retry_after_s:
                        # Not honoured: this URL is tried again next run, the host's other
                        # URLs go on at the normal delay.
                        return Failed(
                            failure.reason,
                            f"status {status}, Retry-After {wait:.0f} s exceeds the "
                            f"{self.options.max_retry_after_s:g} s limit",
                            transient=True,
                            status=status,
                        )
                    if not self._limiter.defer(host, wait):  # the whole host waits, not only us
                        return self._backoff_failure(host)
            elif outcome.retry_now:
                failure, wait = outcome, None
            else:
                return outcome
            if attempt == retries:
                return failure
            backoff = min(MAX_BACKOFF_S, self.options.backoff_s * 2**attempt)
            backoff = backoff / 2 + random.uniform(0, backoff / 2)  # jitter spreads retries
            pause = max(backoff, wait or 0.0)
            if not self._limiter.penalize(host, pause):
                return self._backoff_failure(host)
            self.stats.retries += 1
            await asyncio.sleep(pause)
        raise AssertionError("unreachable")

    def _backoff_failure(self, host: str) -> Failed:
        detail = self._limiter.given_up(host) or f"{host}: waiting cap reached"
        return Failed(RejectReason.HOST_BACKOFF, detail, transient=True)

    async def _attempt(
        self, url: str, headers: dict[str, str], max_bytes: int, truncate: bool
    ) -> _Attempt | Failed:
        opts = self.options
        deadline = opts.connect_timeout_s + opts.read_timeout_s * TOTAL_READ_FACTOR
        host = urlsplit(url).hostname or ""
        try:
            request = self._client.build_request("GET", url, headers=headers)
            async with self._limiter.slot(host), asyncio.timeout(deadline):
                self.stats.requests += 1
                response = await self._client.send(request, stream=True)
                try:
                    return await self._read(response, max_bytes, truncate)
                finally:
                    await response.aclose()
        except HostBackoff as exc:
            return Failed(RejectReason.HOST_BACKOFF, str(exc), transient=True)
        except TooLarge as exc:
            return Failed(RejectReason.TOO_LARGE, str(exc))
        except Truncated as exc:  # a cut transfer may pass: tried again next run
            return Failed(RejectReason.READ_ERROR, str(exc), transient=True)
        except BadEncoding as exc:
            return Failed(RejectReason.FETCH_ERROR, str(exc))
        except BlockedAddressError as exc:
            return Failed(RejectReason.BLOCKED_ADDRESS, str(exc))
        except httpx.ConnectTimeout:
            return Failed(RejectReason.TIMEOUT, "connect timeout", transient=True, retry_now=True)
        except httpx.TimeoutException as exc:
            return Failed(RejectReason.TIMEOUT, f"{type(exc).__name__}", transient=True)
        except TimeoutError:
            return Failed(
                RejectReason.TIMEOUT, f"no full response in {deadline:g} s", transient=True
            )
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            return Failed(RejectReason.BAD_URL, str(exc))
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            detail = f"{type(exc).__name__}: {exc}"
            return Failed(RejectReason.FETCH_ERROR, detail, transient=True, retry_now=True)
        except httpx.HTTPError as exc:
            return Failed(RejectReason.FETCH_ERROR, f"{type(exc).__name__}: {exc}")

    async def _read(self, response: httpx.Response, max_bytes: int, truncate: bool) -> _Attempt:
        status = response.status_code
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            return _Attempt(status, response.headers, b"", retry_after)
        if not 200 <= status < 300:
            return _Attempt(status, response.headers, b"")  # a redirect, 304 or 4xx: no body
        length = response.headers.get("content-length", "")
        if not truncate and length.isdigit() and int(length) > max_bytes:
            raise TooLarge(f"Content-Length {length} exceeds {max_bytes} bytes")
        decoder = BoundedDecoder(response.headers.get("content-encoding", ""), max_bytes)
        chunks: list[bytes] = []
        try:
            async for raw in response.aiter_raw():
                self.stats.bytes += len(raw)
                chunks.append(decoder.decode(raw))
            chunks.append(decoder.flush())
        except TooLarge:
            if not truncate:
                raise
        body = b"".join(chunks)
        return _Attempt(status, response.headers, body[:max_bytes])
