"""The same flow with its batches on a real Dask LocalCluster of 2 worker processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.load.warehouse import connect

pytest.importorskip(
    "distributed", reason="Dask is an optional extra: pip install -e '.[dask]' (the lock has it)"
)

from .conftest import two_worker_cluster
from .items import write_item


@pytest.mark.timeout(180)
@pytest.mark.usefixtures("prefect_api")
def test_batches_run_on_dask_workers_and_one_writer_loads(tmp_path: Path) -> None:
    from flows.ingest import ingest

    src = tmp_path / "in"
    for i in range(12):
        write_item(src, f"{i:02d}.txt", 1690933501000 + i, f"Story {i}", f"https://d.example/{i}")
    (src / "empty.txt").write_bytes(b"")
    shared = tmp_path / "shared-staging"  # stands in for a folder every worker mounts
    with two_worker_cluster() as (address, worker_pids):
        run = ingest(
            sources=[str(src)],
            warehouse=str(tmp_path / "wh"),
            batch_size=3,
            dask_address=address,
            staging=str(shared),
            return_state=True,
        )
        state = run
    summary = state.result()
    assert (summary["inputs"], summary["new"], summary["rejected"], summary["batches"]) == (
        13,
        12,
        1,
        5,
    )
    con = connect(tmp_path / "wh", read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM articles").fetchall() == [(12,)]
    finally:
        con.close()
    assert not list(shared.rglob("*.parquet"))  # staged parts are cleaned up after the load
    assert list(shared.iterdir()) == []  # and the run's folder, and the warehouse's pointer
    assert not list((tmp_path / "wh" / "staging").glob("*.elsewhere"))
    ran_on = {int(w.rsplit(":", 1)[1]) for w in summary["workers"]}
    assert ran_on and ran_on <= worker_pids  # the batches ran there, not in the flow process
