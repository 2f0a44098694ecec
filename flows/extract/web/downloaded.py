"""Downloaded WARC files are removed once the batches of all their records are done."""

from __future__ import annotations

import contextlib
import os

from flows.core.units import WorkUnit


class DownloadedFiles:
    """Removes a downloaded WARC once the batches of all its records are done: discovery
    reads files in order, so a file is fully indexed once a batch holds a later one."""

    def __init__(self) -> None:
        self.pending: dict[str, int] = {}
        self.latest: str | None = None

    def submitted(self, units: list[WorkUnit]) -> None:
        """A batch holding records of downloaded files is on its way: one more for each file."""
        for path in {u.path for u in units if u.path and "downloaded" in u.meta}:
            self.pending[path] = self.pending.get(path, 0) + 1
            self.latest = path

    def done(self, units: list[WorkUnit]) -> None:
        """That batch is done: a file no batch still needs, and past which discovery moved, goes."""
        for path in {u.path for u in units if u.path and "downloaded" in u.meta}:
            self.pending[path] -= 1
        for path, left in list(self.pending.items()):
            if left == 0 and path != self.latest:
                del self.pending[path]
                with contextlib.suppress(OSError):
                    os.unlink(path)
