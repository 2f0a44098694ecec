"""In-process progress listeners: the CLI draws a bar, the flow updates a Prefect artifact."""

from __future__ import annotations

from collections.abc import Callable

Listener = Callable[[int, int], None]  # (items done, items known so far)
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> None:
    _listeners.append(listener)


def unsubscribe(listener: Listener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def notify(done: int, total: int) -> None:
    for listener in list(_listeners):
        listener(done, total)
