"""`article-etl maintenance` through the real command line: a mistyped warehouse is an error,
not a new empty warehouse; the run publishes its table as an artifact."""

from __future__ import annotations

from pathlib import Path

from .conftest import EXAMPLES
from .test_crash import run_cli


def test_maintenance_of_a_missing_warehouse_fails_in_one_line(tmp_path: Path) -> None:
    typo = tmp_path / "warehuose"
    done = run_cli("maintenance", "--warehouse", typo)
    assert done.returncode == 1
    assert done.stderr.startswith(f"article-etl: error: no warehouse at {typo / 'articles.duckdb'}")
    assert len(done.stderr.strip().splitlines()) == 1
    assert not typo.exists()


def test_maintenance_publishes_its_table_as_an_artifact(tmp_path: Path, prefect_api: None) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    wh = tmp_path / "wh"
    assert run_cli("ingest", EXAMPLES / "items", "--warehouse", wh).returncode == 0
    done = run_cli("maintenance", "--warehouse", wh)
    assert done.returncode == 0, done.stderr
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_="maintenance-%-summary")),
        )
    tables = [a for a in found if a.type == "table" and "lineage_pruned" in str(a.data)]
    assert tables, [a.key for a in found]
    assert any("files_after" in str(a.data) for a in tables)
