"""What the flow asks of a place that runs transform batches."""

from __future__ import annotations

from typing import Protocol

from flows.core.units import BatchResult, WorkUnit


class Executor(Protocol):
    """Where transform batches run: local worker processes or a Dask cluster."""

    size: int

    def start(self) -> None:
        """Make the workers ready (processes started, the cluster reached)."""

    def run_batch(self, units: list[WorkUnit], staging_dir: str, batch_id: str) -> BatchResult:
        """Transform ``units`` into staged Parquet parts under ``staging_dir``."""

    def close(self, force: bool = False) -> None:
        """Release the workers; ``force`` stops work in progress."""
