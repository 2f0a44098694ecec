"""Batches on a Dask cluster: the same process_batch, run where the cluster puts it.

Prefect stays in the flow process (a worker process without an API URL would start its own
temporary Prefect server); Dask workers only run the pure batch function and write their
staging Parquet parts to a folder every worker can reach. DuckDB is written by the flow only.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from datetime import datetime

from flows.core.settings import DOC_TIME_BUDGET_S
from flows.core.units import WorkUnit
from flows.executors.batch import BatchResult, process_batch


class ClusterSetupError(RuntimeError):
    """A Dask worker cannot see the run's files: the cluster is set up wrong, the inputs are
    not bad (so none is recorded as a reject)."""


def run_on_worker(
    units: Sequence[WorkUnit],
    staging_dir: str,
    batch_id: str,
    budget_s: float,
    run_start: datetime | None = None,
) -> BatchResult:
    """process_batch, once the worker has shown it sees the staging folder and the inputs."""
    missing = [staging_dir] if not os.path.isdir(staging_dir) else []
    missing += sorted({u.path for u in units if u.path and not os.path.exists(u.path)})
    if missing:
        raise ClusterSetupError(
            f"dask worker on {socket.gethostname()} cannot see {missing[0]}"
            f"{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}: "
            "every worker needs the inputs and the staging folder at the same absolute paths"
        )
    return process_batch(units, staging_dir, batch_id, budget_s=budget_s, run_start=run_start)


class DaskExecutor:
    """Batches on a Dask cluster's workers."""

    def __init__(
        self,
        address: str,
        *,
        budget_s: float = DOC_TIME_BUDGET_S,
        run_start: datetime | None = None,
    ) -> None:
        from distributed import Client

        self.client = Client(address, set_as_default=False, timeout=30)
        self.budget_s = budget_s
        self.run_start = run_start
        workers = self.client.scheduler_info().get("workers", {})
        self.size = max(1, sum(w.get("nthreads", 1) for w in workers.values()))

    def start(self) -> None:
        """Nothing to start: the cluster's workers are up before the run connects."""

    def run_batch(self, units: Sequence[WorkUnit], staging_dir: str, batch_id: str) -> BatchResult:
        future = self.client.submit(
            run_on_worker,
            list(units),
            staging_dir,
            batch_id,
            self.budget_s,
            self.run_start,
            key=f"article-etl-batch-{batch_id}-{id(units):x}",
            pure=False,
        )
        return future.result()

    def close(self, force: bool = False) -> None:
        # Closing releases this client's futures: the scheduler drops the batches still queued
        # (forced or not; a batch already running on a worker thread cannot be interrupted).
        self.client.close()
