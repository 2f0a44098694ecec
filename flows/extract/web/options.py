"""Options and outcomes shared by the web modules (the flow imports them from ``discover``)."""

from __future__ import annotations

from dataclasses import dataclass

from flows.core import settings


@dataclass
class WebOptions:
    user_agent: str = settings.USER_AGENT
    per_host_concurrency: int = 2
    global_concurrency: int = 16
    min_delay_s: float = 0.5  # per host, between request starts
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 15.0
    max_bytes: int = settings.MAX_INPUT_BYTES
    max_redirects: int = 5
    retries: int = 3  # on connection errors, 429 and 5xx
    allow_private_network: bool = False
    obey_robots: bool = True
    backoff_s: float = 0.5  # first retry waits about this long, doubling each time (jittered)
    host_wait_cap_s: float = settings.HOST_WAIT_CAP_S  # waiting one host may ask for per run
    max_retry_after_s: float = settings.MAX_RETRY_AFTER_S  # a longer one is not honoured

    def __post_init__(self) -> None:
        if self.per_host_concurrency < 1 or self.global_concurrency < 1:
            raise ValueError("concurrency limits must be at least 1")
        if min(self.connect_timeout_s, self.read_timeout_s) <= 0:
            raise ValueError("timeouts must be positive")
        if self.max_bytes < 1 or self.max_redirects < 0 or self.retries < 0:
            raise ValueError("max_bytes must be positive; max_redirects and retries not negative")
        if min(self.min_delay_s, self.backoff_s, self.host_wait_cap_s, self.max_retry_after_s) < 0:
            raise ValueError("delays and waiting caps must not be negative")


@dataclass(frozen=True)
class Validator:
    """What the warehouse remembers per fetched URL, sent back as a conditional request.

    ``content_hash`` is the ``fingerprint`` discover_web gave the unit (sha256 hex of the
    bytes for a fetched page, of the item for a feed item, of the document for a feed or
    sitemap).
    """

    url: str
    etag: str | None
    last_modified: str | None
    content_hash: str | None


@dataclass(frozen=True)
class NotModified:
    """A 304, or the same content hash as last time: nothing to do."""

    source: str
