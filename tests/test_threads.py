"""The async flow's blocking work in a thread: results, errors, context and cancellation."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from flows.threads import run_in_thread

LABEL: contextvars.ContextVar[str] = contextvars.ContextVar("label", default="")


def test_result_error_and_the_callers_context_reach_the_thread() -> None:
    async def main() -> tuple[str, str]:
        LABEL.set("run-1")
        name = await run_in_thread(lambda stop: threading.current_thread().name, name="work")
        label = await run_in_thread(lambda stop: LABEL.get(), name="work")
        return name, label

    assert asyncio.run(main()) == ("work", "run-1")

    def fail(stop: threading.Event) -> None:
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        asyncio.run(run_in_thread(fail, name="work"))


def test_cancelling_the_caller_tells_the_work_to_stop() -> None:
    stopped = threading.Event()
    started = threading.Event()

    def work(stop: threading.Event) -> None:
        started.set()
        if stop.wait(30):
            stopped.set()

    async def main() -> None:
        task = asyncio.ensure_future(run_in_thread(work, name="work"))
        while not started.is_set():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert stopped.wait(5), "the work never saw the stop"
