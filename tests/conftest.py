"""Shared fixtures: a real Prefect API (test harness), real folders, the shared corpus."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATA = REPO / "tests" / "data"
EXAMPLES = REPO / "examples"

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("ARTICLE_ETL_WORKERS", "2")
if "ARTICLE_ETL_CACHE_DIR" not in os.environ:  # the unpacked language model: not the user's
    _CACHE = tempfile.mkdtemp(prefix="article-etl-cache-")
    os.environ["ARTICLE_ETL_CACHE_DIR"] = _CACHE
    atexit.register(shutil.rmtree, _CACHE, True)


def shared_path(*parts: str) -> Path:
    """A path under ../shared; missing data fails under CI=true and skips elsewhere."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        message = f"{path} is missing: place the shared data beside the repository"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """One real temporary Prefect server for the whole session (it takes ~11 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "warehouse"


@contextmanager
def two_worker_cluster() -> Iterator[tuple[str, set[int]]]:
    """A real Dask LocalCluster of 2 worker processes: its address and the workers' pids."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield cluster.scheduler_address, set(client.run(os.getpid).values())
