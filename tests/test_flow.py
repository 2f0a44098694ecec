"""The ingest flow against a real (temporary) Prefect API and a real DuckDB file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from flows.load.warehouse import connect

from .items import PARAGRAPHS, write_item


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
    from prefect import tags

    from flows.ingest import ingest

    src = tmp_path / "in"
    for i in range(7):
        write_item(src, f"{i:03d}.txt", 1690933501000 + i, f"Story {i}", f"https://n.example/{i}")
    (src / "empty.html").write_bytes(b"")
    with tags("nightly"):
        state = ingest(
            sources=[str(src)], warehouse=str(warehouse), batch_size=3, return_state=True
        )
    summary = state.result()
    assert summary["inputs"] == 8
    assert (summary["new"], summary["rejected"], summary["batches"]) == (7, 1, 3)

    run, tasks, arts = _client_view(state.state_details.flow_run_id)
    assert run.state.is_completed()
    assert run.name.startswith("ingest ")
    assert run.tags == ["nightly"]  # the caller's tags label the run
    assert run.parameters["sources"] == [str(src)]
    assert (run.parameters["batch_size"], run.parameters["workers"]) == (3, None)
    assert run.parameters["warehouse"] == str(warehouse)
    assert all(t.tags == ["nightly"] for t in tasks)  # task runs inherit the run's tags
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


@pytest.mark.usefixtures("prefect_api")
def test_maintenance_compacts_parquet_and_prunes_lineage(tmp_path: Path, warehouse: Path) -> None:
    import duckdb
    import pyarrow.parquet as pq

    from flows.core.schema import ARTICLE_SCHEMA
    from flows.ingest import ingest
    from flows.maintenance import maintenance

    for run in range(3):  # three runs, three small Parquet files; the second updates url 0
        src = tmp_path / f"in{run}"
        write_item(src, "a.txt", 1690933501000 + run, f"V{run}", "https://m.example/0")
        write_item(src, "b.txt", 1690933501000, f"B{run}", f"https://m.example/b{run}")
        ingest(sources=[str(src)], warehouse=str(warehouse))
    glob = str(warehouse / "parquet" / "*.parquet")
    before = sorted(duckdb.sql(f"SELECT * FROM read_parquet('{glob}')").fetchall())
    con = connect(warehouse)
    try:  # age the lineage so the retention applies to all but each url's newest record
        con.execute("UPDATE lineage SET ingested_at = ingested_at - INTERVAL 400 DAY")
    finally:
        con.close()

    result = maintenance(warehouse=str(warehouse), lineage_retention_days=90)
    assert (result["files_before"], result["files_after"], result["rows"]) == (3, 1, 6)
    assert result["lineage_pruned"] == 2  # url 0's two superseded versions
    files = list((warehouse / "parquet").glob("*.parquet"))
    assert pq.read_schema(files[0]).equals(ARTICLE_SCHEMA)
    assert sorted(duckdb.sql(f"SELECT * FROM read_parquet('{glob}')").fetchall()) == before
    con = connect(warehouse, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM lineage").fetchall() == [(4,)]
    finally:
        con.close()


@pytest.mark.usefixtures("prefect_api")
def test_a_run_whose_web_sources_all_fail_warns_and_still_completes(
    tmp_path: Path, warehouse: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    from flows.ingest import ingest

    with socket.socket() as s:  # a port nobody listens on: the connection is refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    urls = [f"http://127.0.0.1:{port}/a", f"http://127.0.0.1:{port}/b"]
    src = tmp_path / "in"
    write_item(src, "a.txt", 1690933501000, "Local", "https://w.example/local")
    state = ingest(
        sources=[*urls, str(src)],
        warehouse=str(warehouse),
        allow_private_network=True,
        return_state=True,
    )
    assert state.is_completed()
    summary = state.result()
    assert (summary["new"], summary["rejected"]) == (1, 2)
    assert summary["reasons"] == {"fetch_error": 2}
    assert summary["warning"].startswith("every web source failed (2 fetch_error)")
    assert any(
        r.levelname == "WARNING" and "every web source failed" in r.getMessage()
        for r in caplog.records
    )
    _, _, arts = _client_view(state.state_details.flow_run_id)
    table = next(a for a in arts if a.key and a.key.endswith("-summary"))
    first = table.data if isinstance(table.data, list) else __import__("json").loads(table.data)
    assert first[0] == {"measure": "WARNING", "value": summary["warning"]}


@pytest.mark.usefixtures("prefect_api")
def test_a_run_without_rejects_says_so(tmp_path: Path, warehouse: Path) -> None:
    from flows.ingest import ingest

    src = tmp_path / "in"
    write_item(src, "a.txt", 1690933501000, "Only", "https://r.example/only")
    state = ingest(sources=[str(src)], warehouse=str(warehouse), return_state=True)
    assert state.result()["warning"] is None
    _, _, arts = _client_view(state.state_details.flow_run_id)
    rejects = next(a for a in arts if a.key and a.key.endswith("-rejects"))
    assert (rejects.type, rejects.data) == ("markdown", "No rejects in this run.")
    chart = next(a for a in arts if a.key and a.key.endswith("-per-day"))
    assert "| 2023-08-01 | 1 |" in chart.data


def test_the_chart_picks_buckets_whose_bars_differ() -> None:
    from datetime import date, timedelta

    from flows.artifacts import bucket_counts, per_day_markdown

    start = date(2024, 1, 1)  # a Monday
    one_a_day = [(start + timedelta(days=i), 1) for i in range(20)]
    unit, bars = bucket_counts(one_a_day)  # daily bars would all be full
    assert unit == "week"
    assert bars == [("2024-01-01", 7), ("2024-01-08", 7), ("2024-01-15", 6)]
    varied = [(start, 3), (start + timedelta(days=1), 1)]
    assert bucket_counts(varied) == ("day", [("2024-01-01", 3), ("2024-01-02", 1)])
    year = [(start + timedelta(days=i), 1 + i % 3) for i in range(366)]
    unit, bars = bucket_counts(year)
    assert unit == "month" and len(bars) == 12 and len({n for _, n in bars}) >= 2
    text = per_day_markdown(one_a_day)
    assert text.startswith("### Articles per week")
    assert "| week of (UTC, Monday) | articles | bar (full = 7) |" in text


@pytest.mark.usefixtures("prefect_api")
def test_a_slow_batch_does_not_hold_back_the_batches_after_it(
    tmp_path: Path, warehouse: Path
) -> None:
    """Batches are collected as they finish: while one worker is busy with a slow batch, the
    other goes on through the later ones instead of waiting for the slow one to be collected."""
    from flows.ingest import ingest

    src = tmp_path / "in"
    # A long table: seconds of parsing, in the first batch (files are read in name order).
    rows = "".join(f"<tr><td>{i}</td><td>{PARAGRAPHS[i % 3]}</td></tr>" for i in range(20_000))
    src.mkdir()
    (src / "a-slow.html").write_text(
        "<html><head><link rel=canonical href='https://h.example/table'><title>T</title></head>"
        f"<body><article><table>{rows}</table></article></body></html>",
        "utf-8",
    )
    for i in range(12):
        write_item(src, f"b-{i:02d}.txt", 1690933501000 + i, f"Story {i}", f"https://n.example/{i}")
    state = ingest(
        sources=[str(src)],
        warehouse=str(warehouse),
        batch_size=1,
        workers=2,
        time_budget_s=120,
        return_state=True,
    )
    summary = state.result()
    assert (summary["inputs"], summary["new"], summary["batches"]) == (13, 13, 13)
    _, tasks, _ = _client_view(state.state_details.flow_run_id)
    ends = {t.name: t.end_time for t in tasks if t.name.startswith("batch-")}
    slow_end = ends.pop("batch-1")
    # Waiting for the oldest batch first lets at most 2 x workers later ones end before it.
    assert sum(end < slow_end for end in ends.values()) > 4, sorted(ends.items())
