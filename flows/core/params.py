"""The run's parameters checked at the edge: the CLI calls this before Prefect starts, the
flow at its start, so a value that would make a run lie (a batch of 0 items, -3 workers) or
never end (a time budget or delay of ``inf``) fails in one line naming the parameter,
whichever way the flow is started."""

from __future__ import annotations

import math
from typing import Any, NamedTuple


class _Rule(NamedTuple):
    option: str  # the command-line option
    low: float
    high: float
    low_open: bool = False  # the value must be greater than ``low``, not equal to it


# Upper bounds are sane maxima, not tuning: past them a value is a typo or an attack (a
# budget of 1e10 s overflows the timer and rejects every document; a delay of ``inf`` hangs a
# poll for ever), so it is refused before anything runs.
RULES: dict[str, _Rule] = {
    "batch_size": _Rule("--batch-size", 1, 1_000_000),
    "workers": _Rule("--workers", 1, 1024),
    "time_budget_s": _Rule("--time-budget", 0, 600, low_open=True),
    "lock_wait_s": _Rule("--lock-wait", 0, 86_400),
    "per_host_concurrency": _Rule("--per-host", 1, 64),
    "min_delay_s": _Rule("--min-delay", 0, 3_600),
    "max_internal_error_share": _Rule("--max-internal-error-share", 0, 1),
    "lineage_retention_days": _Rule("--lineage-retention-days", 0, 36_500),
}
_INTEGERS = frozenset({"batch_size", "workers", "per_host_concurrency", "lineage_retention_days"})


class InvalidParameter(ValueError):
    """A run parameter out of its range; the message names it as the flow and the CLI do."""


def validate_params(params: dict[str, Any]) -> None:
    """Raise InvalidParameter for the first value in ``params`` out of range (None means
    the default and passes; names without a rule are not checked here)."""
    for name, rule in RULES.items():
        value = params.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidParameter(f"{name} ({rule.option}) must be a number, got {value!r}")
        if not math.isfinite(value):
            raise InvalidParameter(f"{name} ({rule.option}) must be a finite number, got {value}")
        if name in _INTEGERS and not float(value).is_integer():
            raise InvalidParameter(f"{name} ({rule.option}) must be a whole number, got {value!r}")
        if value <= rule.low if rule.low_open else value < rule.low:
            least = "greater than" if rule.low_open else "at least"
            raise InvalidParameter(
                f"{name} ({rule.option}) must be {least} {rule.low:g}, got {value:g}"
            )
        if value > rule.high:
            raise InvalidParameter(
                f"{name} ({rule.option}) must be at most {rule.high:g}, got {value:g}"
            )
