"""A blocking function awaited from an async flow, in a thread that can be told to stop.

The ingest's work is synchronous (worker processes, DuckDB, Prefect's sync task API); an async
flow awaits it in a thread so that Prefect's async engine runs the flow, which ends a run at
once where the sync engine waits up to a second for its heartbeat thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Stopped(Exception):
    """The awaiting flow was cancelled (Ctrl-C, a cancelled run): the work stops early."""


async def run_in_thread(fn: Callable[[threading.Event], T], name: str) -> T:
    """Run ``fn(stop)`` in a daemon thread with the caller's context (the Prefect flow run).

    If the awaiting task is cancelled, ``stop`` is set: ``fn`` checks it between steps and
    raises ``Stopped``, closing what it opened. The thread is a daemon so that a process told
    to end (a second Ctrl-C, SIGTERM) is not held until the work finishes.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()
    stop = threading.Event()
    context = contextvars.copy_context()

    def settle(outcome: T | BaseException, failed: bool) -> None:
        if done.done():
            return
        if failed:
            done.set_exception(outcome)  # type: ignore[arg-type]
        else:
            done.set_result(outcome)  # type: ignore[arg-type]

    def target() -> None:
        try:
            outcome, failed = context.run(fn, stop), False
        except BaseException as exc:  # handed to the awaiting task, which raises it
            outcome, failed = exc, True
        # RuntimeError: the loop closed meanwhile, and nobody awaits the outcome any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, outcome, failed)

    threading.Thread(target=target, name=name, daemon=True).start()
    try:
        return await done
    except asyncio.CancelledError:
        stop.set()
        raise
