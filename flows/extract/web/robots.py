"""robots.txt: fetched once per origin per run, obeyed with ``protego``.

protego follows RFC 9309: wildcards (``*``, ``$``) and the longest matching rule wins, so
``Allow: /news/`` then ``Disallow: /news/private`` blocks ``/news/private/x``. Status handling
follows the RFC too: a 4xx means no rules (allow all); a 5xx, a timeout or a connection
failure means the site is unreachable, so everything is disallowed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from protego import Protego

from flows.core.units import RejectReason

ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309: parse at least the first 500 KiB
MAX_CRAWL_DELAY_S = 60.0  # a larger crawl-delay is capped, or one site would stall a run


@dataclass(frozen=True)
class RobotsRules:
    parser: Protego
    delay_s: float | None = None
    note: str = ""  # why everything is disallowed, when it is
    reason: str = RejectReason.ROBOTS_DISALLOWED

    def allows(self, user_agent: str, url: str) -> bool:
        return bool(self.parser.can_fetch(url, user_agent))


def parse_robots(text: str, user_agent: str) -> RobotsRules:
    parser = Protego.parse(text)
    delay = parser.crawl_delay(user_agent)
    rate = parser.request_rate(user_agent)
    delays = [float(delay)] if delay is not None else []
    if rate is not None and rate.requests > 0:
        delays.append(rate.seconds / rate.requests)
    delay_s = min(max(delays), MAX_CRAWL_DELAY_S) if delays else None
    return RobotsRules(parser, delay_s)


def allow_all() -> RobotsRules:
    return RobotsRules(Protego.parse(""))


def disallow_all(note: str, reason: str = RejectReason.ROBOTS_DISALLOWED) -> RobotsRules:
    return RobotsRules(Protego.parse("User-agent: *\nDisallow: /\n"), note=note, reason=reason)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


class RobotsCache:
    """One robots.txt request per origin, shared by every request that waits for it."""

    def __init__(self, load: Callable[[str], Awaitable[RobotsRules]]) -> None:
        self._load = load
        self._tasks: dict[str, asyncio.Task[RobotsRules]] = {}

    async def rules(self, url: str) -> RobotsRules:
        origin = origin_of(url)
        task = self._tasks.get(origin)
        if task is None:
            task = asyncio.ensure_future(self._load(origin))
            self._tasks[origin] = task
        # shield: a waiter being cancelled must not cancel the fetch others wait for
        return await asyncio.shield(task)

    async def aclose(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
