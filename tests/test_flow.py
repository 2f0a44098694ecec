"""The ingest flow against a real (temporary) Prefect API and a real DuckDB file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from flows.load import connect

from .items import write_item


def _client_view(flow_run_id: object) -> tuple[object, list, list]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
    )

    async def fetch() -> tuple[object, list, list]:
        async with get_client() as client:
            run = await client.read_flow_run(flow_run_id)
            tasks = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            arts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])
                )
            )
            return run, tasks, arts

    return asyncio.run(fetch())


@pytest.mark.usefixtures("prefect_api")
def test_ingest_flow_runs_batches_and_publishes_artifacts(tmp_path: Path, warehouse: Path) -> None:
    from flows.flow import ingest

    src = tmp_path / "in"
    for i in range(7):
        write_item(src, f"{i:03d}.txt", 1690933501000 + i, f"Story {i}", f"https://n.example/{i}")
    (src / "empty.html").write_bytes(b"")
    state = ingest(sources=[str(src)], warehouse=str(warehouse), batch_size=3, return_state=True)
    summary = state.result()
    assert summary["inputs"] == 8
    assert (summary["new"], summary["rejected"], summary["batches"]) == (7, 1, 3)

    run, tasks, arts = _client_view(state.state_details.flow_run_id)
    assert run.state.is_completed()
    assert run.name.startswith("ingest ")
    names = sorted(t.name for t in tasks)
    assert [n for n in names if n.startswith("batch-")] == ["batch-1", "batch-2", "batch-3"]
    assert all(t.state.is_completed() for t in tasks)
    assert len(tasks) == summary["task_runs"] == 6
    kinds = {a.type for a in arts}
    assert {"table", "progress", "markdown"} <= kinds
    progress = [a for a in arts if a.type == "progress"]
    assert progress[0].data == 100.0

    con = connect(warehouse, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM articles").fetchall() == [(7,)]
        assert con.execute("SELECT reason FROM rejects").fetchall() == [("empty_file",)]
    finally:
        con.close()
