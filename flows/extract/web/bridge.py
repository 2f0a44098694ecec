"""Async code for plain callers, on an event loop in a background thread (the calling thread
may run a loop of its own: Prefect's).

``iterate_in_thread`` runs an async producer and hands its items to a plain generator. The
producer's ``emit`` waits while the consumer has ``max_items`` items, or ``max_bytes``
by ``weight``, still to take, so memory stays bounded and the consumer can start on the first
items while the rest are fetched. Closing the generator early cancels the producer.
``LoopThread`` runs one coroutine at a time for code that waits for each answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")

Emit = Callable[[Any], Awaitable[None]]
JOIN_TIMEOUT_S = 10.0
_DONE = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _Buffer:
    """Counts what the consumer has not taken yet; lives on the event loop."""

    def __init__(self, max_items: int, max_bytes: int) -> None:
        self.max_items, self.max_bytes = max_items, max_bytes
        self.items = self.bytes = 0
        self.changed = asyncio.Event()  # bound to the loop on first wait

    def full_for(self, size: int) -> bool:
        # one item always fits in an empty buffer, however large
        return self.items >= self.max_items or (
            self.items > 0 and self.bytes + size > self.max_bytes
        )

    def take(self, size: int) -> None:
        self.items -= 1
        self.bytes -= size
        self.changed.set()


def iterate_in_thread(
    produce: Callable[[Emit], Awaitable[None]],
    weight: Callable[[Any], int],
    max_items: int,
    max_bytes: int,
    name: str,
) -> Iterator[Any]:
    """Run the coroutine ``produce`` in a thread of its own and yield what it emits, bounded in
    items and bytes."""
    out: queue.Queue[Any] = queue.Queue()
    loop = asyncio.new_event_loop()
    buffer = _Buffer(max_items, max_bytes)

    async def emit(item: Any) -> None:
        size = weight(item)
        while buffer.full_for(size):
            buffer.changed.clear()
            await buffer.changed.wait()
        buffer.items += 1
        buffer.bytes += size
        out.put((item, size))

    async def main() -> None:
        try:
            await produce(emit)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            out.put(_Failure(exc))
        finally:
            out.put(_DONE)

    task = loop.create_task(main())

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(task)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()
            out.put(_DONE)

    def call(callback: Callable[..., object], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has already closed
            loop.call_soon_threadsafe(callback, *args)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        while (entry := out.get()) is not _DONE:
            if isinstance(entry, _Failure):
                raise entry.exc
            item, size = entry
            call(buffer.take, size)
            yield item
    finally:
        if thread.is_alive():
            call(task.cancel)
            thread.join(JOIN_TIMEOUT_S)


class LoopThread:
    """One event loop, kept in one helper thread for its whole life, that runs coroutines for
    plain code one at a time: objects bound to the loop (an HTTP client, its limiter) live
    from one call to the next."""

    def __init__(self, name: str) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._runner = asyncio.Runner()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and return its result (or raise its exception)."""
        return self._thread.submit(self._runner.run, coro).result()

    def close(self) -> None:
        """Close the loop and end the thread."""
        try:
            self._thread.submit(self._runner.close).result()
        finally:
            self._thread.shutdown()

    def __enter__(self) -> LoopThread:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
