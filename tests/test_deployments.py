"""prefect.yaml deployed against a real Prefect server, run by a real process worker."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO
from .items import write_item

PREFECT = str(Path(sys.executable).with_name("prefect"))


def _prefect(*args: str, env: dict[str, str], timeout: float = 180) -> str:
    done = subprocess.run(
        [PREFECT, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.timeout(400)
@pytest.mark.usefixtures("prefect_api")
def test_deploy_all_and_run_inbox_through_a_process_worker(tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
    )
    from prefect.settings import PREFECT_API_URL

    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PWD": str(REPO),  # prefect.yaml's pull step resolves {{ $PWD }} at deploy time
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    _prefect("work-pool", "create", "article-etl", "--type", "process", "--overwrite", env=env)
    out = _prefect("--no-prompt", "deploy", "--all", env=env)
    for name in (
        "ingest/inbox",
        "ingest/warc-inbox",
        "ingest/feeds",
        "maintenance/nightly-maintenance",
    ):
        assert name in out

    inbox, warehouse = tmp_path / "inbox", tmp_path / "wh"
    for i in range(3):
        write_item(inbox, f"{i}.txt", 1690933501000 + i, f"Item {i}", f"https://inbox.example/{i}")
    params = json.dumps({"sources": [str(inbox)], "warehouse": str(warehouse)})
    started = _prefect("deployment", "run", "ingest/inbox", "--params", params, env=env)
    flow_run_id = next(line.split()[-1] for line in started.splitlines() if "UUID" in line)
    _prefect("worker", "start", "--pool", "article-etl", "--run-once", env=env, timeout=300)

    async def fetch() -> tuple[object, list, list, object]:
        async with get_client() as client:
            run = await client.read_flow_run(flow_run_id)
            run_filter = FlowRunFilter(id=FlowRunFilterId(any_=[run.id]))
            tasks = await client.read_task_runs(flow_run_filter=run_filter)
            arts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
            )
            deployment = await client.read_deployment_by_name("ingest/inbox")
            return run, tasks, arts, deployment

    run, tasks, arts, deployment = asyncio.run(fetch())
    assert run.state.is_completed(), run.state
    assert "inbox" in run.tags
    assert deployment.schedules[0].schedule.cron == "*/15 * * * *"
    # an overlapping run queues behind the running one
    assert deployment.global_concurrency_limit.limit == 1
    assert deployment.concurrency_options.collision_strategy == "ENQUEUE"
    assert sorted(t.name for t in tasks if t.name.startswith("batch-")) == ["batch-1"]
    assert all(t.state.is_completed() for t in tasks)
    assert {a.type for a in arts} >= {"table", "progress", "markdown"}
    assert (warehouse / "articles.duckdb").exists()
