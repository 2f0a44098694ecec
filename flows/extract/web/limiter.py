"""In-process politeness: a global concurrency limit, and per host a concurrency limit and a
minimum delay between request starts (raised by robots.txt crawl-delay, pushed back by 429)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Host:
    slots: asyncio.Semaphore
    delay: float
    next_start: float = 0.0
    last_start: float = field(default=float("-inf"))


class HostLimiter:
    def __init__(self, per_host: int, global_limit: int, min_delay_s: float) -> None:
        self._per_host = per_host
        self._min_delay = min_delay_s
        self._global = asyncio.Semaphore(global_limit)
        self._hosts: dict[str, _Host] = {}

    def _host(self, host: str) -> _Host:
        state = self._hosts.get(host)
        if state is None:
            state = _Host(asyncio.Semaphore(self._per_host), self._min_delay)
            self._hosts[host] = state
        return state

    def raise_delay(self, host: str, delay_s: float) -> None:
        """Never start two requests to ``host`` closer than ``delay_s`` (crawl-delay)."""
        state = self._host(host)
        if delay_s > state.delay:
            state.delay = delay_s
            state.next_start = max(state.next_start, state.last_start + delay_s)

    def defer(self, host: str, seconds: float) -> None:
        """Start nothing on ``host`` for ``seconds`` (a 429 or 503 with Retry-After)."""
        state = self._host(host)
        state.next_start = max(state.next_start, time.monotonic() + seconds)

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        state = self._host(host)
        async with state.slots:
            while True:
                wait = state.next_start - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
                # A global slot is taken only once the host may start, and given back if
                # another request of the same host claimed the start meanwhile.
                await self._global.acquire()
                now = time.monotonic()
                if now >= state.next_start:
                    break
                self._global.release()
            state.last_start = now
            state.next_start = now + state.delay
            try:
                yield
            finally:
                self._global.release()
