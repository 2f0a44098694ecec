"""The process start time that the run's fixed cost is measured from."""

from __future__ import annotations

import subprocess
import sys
import time

from .conftest import REPO


def test_process_started_at_is_when_the_process_was_launched() -> None:
    """To the clock tick, where psutil's create_time can be most of a second early."""
    before = time.time()
    out = subprocess.run(
        [sys.executable, "-c", "from flows.clock import process_started_at as p; print(p())"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout
    after = time.time()
    started = float(out)
    assert before - 0.02 <= started <= after
    assert started - before < 0.5  # the interpreter starts in well under that
