"""Kill a process with SIGKILL at a chosen point of the code, as an OOM kill or a power cut
would: the crash tests' fault injection. Production code has no crash hook; a test runs the
command line through this module instead::

    python -m tests.crashing POINT [POINT...] -- ingest SOURCE... --warehouse DIR

(from the repository root). POINT is ``before:MODULE:FUNCTION`` or ``after:MODULE:FUNCTION``,
optionally ending ``#N`` for the N-th call (the first by default): the process dies just
before that call starts or just after it returns. POINT may also be one of the names in
``POINTS``. The function is replaced in MODULE's namespace, so name the module whose code
calls it (``from x import f`` binds ``f`` in the importing module, and that is where the
caller looks it up).

In a process that is not the command line, ``arm(POINT)`` first, then run the code::

    python -c "import tests.crashing as c; c.arm('compaction_after_rename'); ..."

To add a point, name the public function whose call is next to it (make one public if
none is) and add it to ``POINTS``, so that every crash test speaks of the same places.
"""

from __future__ import annotations

import functools
import importlib
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

POINTS = {
    # Inside the load's transaction, everything written but not committed: the views are the
    # last thing the load creates before COMMIT.
    "before_commit": "after:flows.load.merge:create_views",
    # Committed, the run's Parquet file not yet renamed into parquet/.
    "after_commit": "before:flows.load.merge:publish",
    # The maintenance compaction: the next set of files built beside parquet/, not swapped in...
    "compaction_before_rename": "before:flows.maintenance:exchange",
    # ...swapped in, the old set not yet removed.
    "compaction_after_rename": "after:flows.maintenance:exchange",
}


def die() -> None:
    """SIGKILL this process: no cleanup, no atexit, no finally."""
    os.kill(os.getpid(), signal.SIGKILL)


def parse(point: str) -> tuple[str, str, str, int]:
    """``(when, module, function, nth)`` of a point or of a name in ``POINTS``."""
    spec = POINTS.get(point, point)
    when, module, target = spec.split(":")
    name, _, nth = target.partition("#")
    if when not in ("before", "after") or not module or not name:
        raise ValueError(f"not a crash point: {point!r} (see tests/crashing.py)")
    return when, module, name, int(nth or 1)


def arm(point: str, kill: Callable[[], None] = die) -> None:
    """Make the process die (``kill``) at ``point``."""
    when, module_name, name, nth = parse(point)
    module = importlib.import_module(module_name)
    original = getattr(module, name)  # fails here, loudly, when the point names nothing
    calls = 0

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == nth and when == "before":
            kill()
        result = original(*args, **kwargs)
        if calls == nth and when == "after":
            kill()
        return result

    setattr(module, name, wrapper)


def main(argv: list[str]) -> int:
    """``POINT... -- ARGS``: arm every point, then run ``article-etl ARGS``."""
    if "--" not in argv:
        raise SystemExit("usage: python -m tests.crashing POINT [POINT...] -- ARGS")
    split = argv.index("--")
    for point in argv[:split]:
        arm(point)
    from flows.cli import main as cli

    return cli(argv[split + 1 :])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
