"""The run's parameters checked at the edge: the CLI calls this before Prefect starts, the
flow at its start, so a value that would make a run lie (a batch of 0 items, -3 workers)
fails in one line naming the parameter, whichever way the flow is started."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

# name -> (command-line option, check, what the check demands)
_Rule = tuple[str, Callable[[float], bool], str]
RULES: dict[str, _Rule] = {
    "batch_size": ("--batch-size", lambda v: v >= 1, "at least 1"),
    "workers": ("--workers", lambda v: v >= 1, "at least 1"),
    "time_budget_s": ("--time-budget", lambda v: v > 0, "greater than 0"),
    "lock_wait_s": ("--lock-wait", lambda v: v >= 0, "at least 0"),
    "per_host_concurrency": ("--per-host", lambda v: v >= 1, "at least 1"),
    "min_delay_s": ("--min-delay", lambda v: v >= 0, "at least 0"),
    "max_internal_error_share": (
        "--max-internal-error-share",
        lambda v: 0 <= v <= 1,
        "between 0 and 1",
    ),
}
_INTEGERS = frozenset({"batch_size", "workers", "per_host_concurrency"})


class InvalidParameter(ValueError):
    """A run parameter out of its range; the message names it as the flow and the CLI do."""


def validate_params(params: dict[str, Any]) -> None:
    """Raise InvalidParameter for the first value in ``params`` out of range (None means
    the default and passes; names without a rule are not checked here)."""
    for name, (option, ok, demand) in RULES.items():
        value = params.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidParameter(f"{name} ({option}) must be a number, got {value!r}")
        if name in _INTEGERS and not float(value).is_integer():
            raise InvalidParameter(f"{name} ({option}) must be a whole number, got {value!r}")
        if math.isnan(value) or not ok(value):
            raise InvalidParameter(f"{name} ({option}) must be {demand}, got {value:g}")
