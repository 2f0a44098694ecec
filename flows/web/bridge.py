"""Run an async producer in a background thread and hand its items to a plain generator.

The producer's ``emit`` waits while ``capacity`` items are unconsumed, so memory stays
bounded and the consumer can start on the first items while the rest are fetched. Closing
the generator early cancels the producer.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

Emit = Callable[[Any], Awaitable[None]]
JOIN_TIMEOUT_S = 10.0
_DONE = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def iterate_in_thread(
    produce: Callable[[Emit], Awaitable[None]], capacity: int, name: str
) -> Iterator[Any]:
    out: queue.Queue[Any] = queue.Queue()
    loop = asyncio.new_event_loop()
    space = asyncio.Semaphore(capacity)  # bound to ``loop`` on first use, in the thread

    async def emit(item: Any) -> None:
        await space.acquire()
        out.put(item)

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

    def call(callback: Callable[[], object]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has already closed
            loop.call_soon_threadsafe(callback)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        while (item := out.get()) is not _DONE:
            if isinstance(item, _Failure):
                raise item.exc
            call(space.release)
            yield item
    finally:
        if thread.is_alive():
            call(task.cancel)
            thread.join(JOIN_TIMEOUT_S)
