"""When this process started, precisely enough to measure a run's fixed cost."""

from __future__ import annotations

import os
import time

import psutil


def process_started_at() -> float:
    """Epoch seconds at which this process started, to the kernel's clock tick (10 ms).

    psutil's ``create_time`` adds the boot time, which Linux reports in whole seconds, so it
    can be up to a second early; the process's age from ``/proc`` against ``CLOCK_BOOTTIME``
    (the same clock) is exact.
    """
    try:
        with open("/proc/self/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()  # the command name may hold spaces
        start_ticks = int(fields[19])  # field 22, starttime, counted after "pid (comm)"
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
        return time.time() - age
    except (OSError, ValueError, IndexError, AttributeError):  # not Linux
        return psutil.Process().create_time()
