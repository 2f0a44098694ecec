"""In-process progress listeners: the CLI draws a bar, the flow updates a Prefect artifact."""

from __future__ import annotations

from collections.abc import Callable

Listener = Callable[[int, int], None]  # (items done, items known so far)
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> None:
    """Call ``listener(done, total)`` on every progress update."""
    _listeners.append(listener)


def unsubscribe(listener: Listener) -> None:
    """Stop calling ``listener``."""
    if listener in _listeners:
        _listeners.remove(listener)


def notify(done: int, total: int) -> None:
    """Tell every listener how far the run is."""
    for listener in list(_listeners):
        listener(done, total)
