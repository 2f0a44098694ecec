"""In-process politeness: a global concurrency limit, and per host a concurrency limit and a
minimum delay between request starts (raised by robots.txt crawl-delay, pushed back by 429).

The waiting a host asks for (Retry-After, backoff after 429/5xx) is bounded per run: past
``wait_cap_s`` the host is given up, and its requests raise HostBackoff instead of waiting,
so no server can stretch a poll from seconds to hours."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

# A waiting request looks this often whether its host was given up meanwhile.
_RECHECK_S = 0.5


class HostBackoff(Exception):
    """The host's waiting cap for this run is spent: its remaining requests are not made."""


@dataclass(slots=True)
class _Host:
    slots: asyncio.Semaphore
    delay: float
    next_start: float = 0.0
    last_start: float = field(default=float("-inf"))
    waited: float = 0.0  # seconds of waiting the host asked for, overlapping waits once
    penalty_until: float = field(default=float("-inf"))
    given_up: str | None = None  # why, once the cap is spent


class HostLimiter:
    def __init__(
        self,
        per_host: int,
        global_limit: int,
        min_delay_s: float,
        wait_cap_s: float = math.inf,
    ) -> None:
        self._per_host = per_host
        self._min_delay = min_delay_s
        self._wait_cap = wait_cap_s
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

    def penalize(self, host: str, seconds: float) -> bool:
        """Charge ``seconds`` of waiting that ``host`` asked for to its cap; False (and the
        host given up) when that would pass the cap. Waits that overlap count once."""
        state = self._host(host)
        if state.given_up is not None:
            return False
        now = time.monotonic()
        added = max(0.0, now + seconds - max(state.penalty_until, now))
        if state.waited + added > self._wait_cap:
            state.given_up = (
                f"{host} asked for more than {self._wait_cap:g} s of waiting in this run "
                f"({state.waited:.0f} s waited, {seconds:.0f} s more asked); "
                "its remaining URLs are tried again on the next run"
            )
            return False
        state.waited += added
        state.penalty_until = max(state.penalty_until, now + seconds)
        return True

    def given_up(self, host: str) -> str | None:
        """Why ``host`` was given up in this run, or None."""
        return self._host(host).given_up

    def defer(self, host: str, seconds: float) -> bool:
        """Start nothing on ``host`` for ``seconds`` (a 429 or 503 with Retry-After); False,
        deferring nothing, once that passes the host's waiting cap."""
        if not self.penalize(host, seconds):
            return False
        state = self._host(host)
        state.next_start = max(state.next_start, time.monotonic() + seconds)
        return True

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        """Wait for a turn at ``host`` (concurrency and spacing); raise HostBackoff once it is
        given up."""
        state = self._host(host)
        async with state.slots:
            while True:
                if state.given_up is not None:
                    raise HostBackoff(state.given_up)
                wait = state.next_start - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(min(wait, _RECHECK_S))
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
