"""WARC batches on Dask: a 2-worker LocalCluster over two files, and a scheduler and workers
started as separate processes in another folder, as a user would start them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.core.units import WorkUnit
from flows.load.warehouse import connect

from .conftest import two_worker_cluster
from .warcs import page, response, write_warc

BIN = Path(sys.executable).parent


def two_warcs(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [
        write_warc(
            folder / name,
            [response(f"https://{name[:3]}.example/{i}", page(f"Story {i}")) for i in range(6)],
        )
        for name in ("one.warc.gz", "two.warc")
    ]


def articles(warehouse: Path) -> int:
    con = connect(warehouse, read_only=True)
    try:
        return con.execute("SELECT count(*) FROM articles").fetchone()[0]
    finally:
        con.close()


@pytest.mark.timeout(180)
@pytest.mark.usefixtures("prefect_api")
def test_two_warc_files_on_a_two_worker_local_cluster(tmp_path: Path) -> None:
    from flows.executors.dask import ClusterSetupError, DaskExecutor
    from flows.ingest import ingest

    files = two_warcs(tmp_path / "in")
    with two_worker_cluster() as (address, worker_pids):
        summary = ingest(
            sources=[str(f) for f in files],
            warehouse=str(tmp_path / "wh"),
            batch_size=3,
            dask_address=address,
            staging=str(tmp_path / "shared"),
        )
        # A worker that cannot see an input is the cluster's fault, not the input's.
        executor = DaskExecutor(address)
        try:
            unit = WorkUnit(source="x", path=str(tmp_path / "not-mounted.warc"))
            with pytest.raises(ClusterSetupError, match=r"cannot see .*not-mounted\.warc"):
                executor.run_batch([unit], str(tmp_path), "000001")
        finally:
            executor.close()
    assert (summary["inputs"], summary["new"], summary["batches"]) == (12, 12, 4)
    assert {int(w.rsplit(":", 1)[1]) for w in summary["workers"]} == worker_pids
    assert articles(tmp_path / "wh") == 12


def _wait_for(path: Path, proc: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{proc.args} did not start")
        time.sleep(0.2)


@pytest.mark.timeout(240)
@pytest.mark.usefixtures("prefect_api")
def test_scheduler_and_workers_started_in_another_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distributed import Client

    from flows.ingest import ingest

    user, elsewhere = tmp_path / "user", tmp_path / "cluster"
    elsewhere.mkdir()
    two_warcs(user / "in")
    scheduler_file = elsewhere / "scheduler.json"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    procs: list[subprocess.Popen[bytes]] = []

    def dask(*args: str) -> subprocess.Popen[bytes]:
        # As a user starts them: another working folder, output not needed.
        command = [str(BIN / "dask"), *args, "--no-dashboard"]
        command.append(f"--scheduler-file={scheduler_file}")
        proc = subprocess.Popen(
            command,
            cwd=elsewhere,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        return proc

    try:
        scheduler = dask("scheduler", "--port=0")
        _wait_for(scheduler_file, scheduler, 60)
        address = json.loads(scheduler_file.read_text())["address"]
        dask("worker", "--nworkers=2", "--nthreads=1")
        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=90)
        monkeypatch.chdir(user)  # relative SOURCE and warehouse, as typed by a user
        summary = ingest(sources=["in"], warehouse="wh", batch_size=3, dask_address=address)
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    assert summary["reasons"] == {}
    assert (summary["inputs"], summary["new"], summary["rejected"]) == (12, 12, 0)
    assert articles(user / "wh") == 12
