"""Dates: the one ISO 8601 parser and the one plausibility window every timestamp passes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# Plausible publication times: the web's first news sites to a day past the run's start
# (a day absorbs clocks and time zones that run ahead; nothing is published in the future).
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)


def latest(run_start: datetime | None = None) -> datetime:
    """The latest plausible time for a run that started at ``run_start`` (default: now)."""
    return (run_start or datetime.now(UTC)) + FUTURE_SLACK


def is_plausible(value: datetime, run_start: datetime | None = None) -> bool:
    """True when ``value`` (aware) lies from 1990-01-01 UTC to the run's start plus one day."""
    return EARLIEST <= value <= latest(run_start)


def parse_iso(value: str | None, *, naive_is_utc: bool = False) -> datetime | None:
    """An ISO 8601 date or date-time as an aware UTC datetime; None when it is not one.

    A value without an offset (a bare date or a local time) is None unless ``naive_is_utc``:
    a page's local time is unknown, while a sitemap's protocol says UTC. An impossible offset
    (``+99:00``) or a value past the calendar's ends is None, never an exception.
    """
    if not value or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        if not naive_is_utc:
            return None
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
