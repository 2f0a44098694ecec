from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import flows.load.merge as load_module
from flows.core.schema import ARTICLE_SCHEMA, STAGING_SCHEMA
from flows.core.sqlfiles import sql
from flows.core.units import WorkUnit
from flows.executors.batch import process_batch
from flows.extract.files import discover_files
from flows.load.known import known_fingerprints
from flows.load.merge import RunRecord, load_run
from flows.load.warehouse import connect, prepare_run, staging_dir

from .items import write_item


def _load(warehouse: Path, sources: list[Path], run_id: str) -> dict[str, int]:
    """Transform and load like the flow does, without Prefect."""
    prepare_run(warehouse)
    stage = staging_dir(warehouse, run_id)
    stage.mkdir(parents=True)
    units = [u for u in discover_files([str(s) for s in sources]) if isinstance(u, WorkUnit)]
    for seq, unit in enumerate(units):
        unit.seq = seq
    known = known_fingerprints(warehouse, [u.source for u in units])
    fresh = [u for u in units if known.get(u.source) != u.fingerprint]
    result = process_batch(fresh, str(stage), "000001")
    record = RunRecord(
        run_id, None, datetime.now(UTC), "test", len(units), len(units) - len(fresh), 1
    )
    counts, _ = load_run(
        warehouse,
        record,
        [result.articles_path] if result.articles_path else [],
        [result.rejects_path] if result.rejects_path else [],
    )
    return {
        "new": counts.new,
        "updated": counts.updated,
        "unchanged": counts.unchanged,
        "superseded": counts.superseded,
        "rejected": counts.rejected,
        "skipped": len(units) - len(fresh),
    }


def _articles(warehouse: Path) -> list[tuple]:
    con = connect(warehouse, read_only=True)
    try:
        return con.execute(
            'SELECT url, "timestamp", title, image FROM articles ORDER BY url'
        ).fetchall()
    finally:
        con.close()


def test_rerun_is_idempotent_and_skips_unchanged(tmp_path: Path, warehouse: Path) -> None:
    src = tmp_path / "in"
    write_item(src, "a.txt", 1690933501000, "A", "https://n.example/a", image="/i/a.jpg")
    write_item(src, "b.txt", 1690933502000, "B", "https://n.example/b")
    (src / "bad.txt").write_text("just words, no html and no header", encoding="utf-8")
    first = _load(warehouse, [src], "run1")
    assert first == {
        "new": 2,
        "updated": 0,
        "unchanged": 0,
        "superseded": 0,
        "rejected": 1,
        "skipped": 0,
    }
    before = _articles(warehouse)
    second = _load(warehouse, [src], "run2")
    assert second["skipped"] == 3 and second["new"] == 0
    assert _articles(warehouse) == before
    assert before[0][3] == "https://n.example/i/a.jpg"


def test_touched_but_identical_file_is_unchanged(tmp_path: Path, warehouse: Path) -> None:
    src = tmp_path / "in"
    path = write_item(src, "a.txt", 1690933501000, "A", "https://n.example/a")
    _load(warehouse, [src], "run1")
    path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert _load(warehouse, [src], "run2")["unchanged"] == 1


def test_later_version_wins_within_and_across_runs(tmp_path: Path, warehouse: Path) -> None:
    src = tmp_path / "in"
    write_item(src, "1-old.txt", 1690933501000, "Old", "https://n.example/x", marker="old")
    write_item(src, "2-new.txt", 1690933509000, "New", "https://n.example/x", marker="new")
    write_item(src, "3-same.txt", 1690933509000, "New", "https://n.example/x", marker="new")
    counts = _load(warehouse, [src], "run1")
    assert counts["new"] == 1
    assert _articles(warehouse)[0][2] == "New"
    # An older version arriving later does not replace the newer one.
    late = tmp_path / "late"
    write_item(late, "old-again.txt", 1690933500000, "Older", "https://n.example/x")
    assert _load(warehouse, [late], "run2")["superseded"] == 1
    assert _articles(warehouse)[0][2] == "New"
    # Same timestamp, different content: the later ingest wins.
    tie = tmp_path / "tie"
    write_item(tie, "tie.txt", 1690933509000, "Corrected", "https://n.example/x")
    assert _load(warehouse, [tie], "run3")["updated"] == 1
    assert _articles(warehouse)[0][2] == "Corrected"


def test_parquet_files_have_exactly_the_schema(tmp_path: Path, warehouse: Path) -> None:
    src = tmp_path / "in"
    write_item(src, "a.txt", 1690933501123, "A", "https://n.example/a")
    _load(warehouse, [src], "run1")
    files = sorted((warehouse / "parquet").glob("*.parquet"))
    assert [f.name for f in files] == ["run1.parquet"]
    table = pq.read_table(files[0])
    assert table.schema.equals(ARTICLE_SCHEMA)
    assert pq.ParquetFile(files[0]).metadata.row_group(0).column(0).compression == "ZSTD"
    ts = table.column("timestamp")[0].as_py()
    assert ts == datetime(2023, 8, 1, 23, 45, 1, 123000, tzinfo=UTC)
    # one glob reads the dataset in DuckDB as well
    rows = duckdb.sql(f"SELECT count(*) FROM read_parquet('{warehouse}/parquet/*.parquet')")
    assert rows.fetchall() == [(1,)]
    assert not (warehouse / "staging" / "run1").exists()


def test_lineage_rejects_and_run_log(tmp_path: Path, warehouse: Path) -> None:
    src = tmp_path / "in"
    write_item(src, "a.txt", 1690933501000, "A", "https://n.example/a")
    write_item(src, "js.txt", 1690933501000, "JS", "javascript:alert(1)")
    _load(warehouse, [src], "run1")
    con = connect(warehouse, read_only=True)
    try:
        lineage = con.execute(
            "SELECT url, source, timestamp_source, run_id FROM lineage"
        ).fetchall()
        rejects = con.execute("SELECT source, reason, run_id FROM rejects").fetchall()
        runs = con.execute("SELECT run_id, inputs, new, rejected FROM runs").fetchall()
    finally:
        con.close()
    assert lineage == [("https://n.example/a", str(src / "a.txt"), "header", "run1")]
    assert rejects == [(str(src / "js.txt"), "bad_url", "run1")]
    assert runs == [("run1", 2, 1, 1)]


def _big_part(warehouse: Path, run_id: str, n: int) -> Path:
    """A staging part of ``n`` articles with 5 KB bodies, as a batch would write it."""
    stage = staging_dir(warehouse, run_id)
    stage.mkdir(parents=True)
    rows = [
        {
            "url": f"https://n.example/{i}",
            "timestamp": datetime(2024, 1, 1, tzinfo=UTC),
            "title": f"Story {i}",
            "body": f"word {i} " * 700,
            "image": None,
            "source": f"/in/{i}.txt",
            "content_hash": f"{i:040x}",
            "timestamp_source": "header",
            "seq": i,
            "fingerprint": f"1:{i}",
        }
        for i in range(n)
    ]
    part = stage / "articles-000001.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=STAGING_SCHEMA), part)
    return part


def test_load_out_of_duckdb_memory_retries_with_a_larger_limit(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The primary-key indexes grow with the warehouse and cannot spill: a load that runs out
    of its memory limit is rolled back and retried with 4x the limit, and loads everything."""
    prepare_run(warehouse)
    part = _big_part(warehouse, "r1", 3000)
    monkeypatch.setattr(load_module, "LOAD_MEMORY_MB", 1)
    record = RunRecord("r1", None, datetime.now(UTC), "test", 3000, 0, 1)
    counts, parquet_file = load_run(warehouse, record, [str(part)], [])
    assert (counts.new, parquet_file) == (3000, "r1.parquet")
    told = capsys.readouterr().err
    assert "the load ran out of DuckDB memory; retrying with a 4 MB limit" in told
    con = connect(warehouse, read_only=True)
    try:
        assert con.execute("SELECT count(*), count(DISTINCT url) FROM articles").fetchall() == [
            (3000, 3000)
        ]
        assert con.execute("SELECT count(*) FROM lineage").fetchall() == [(3000,)]
    finally:
        con.close()
    assert pq.read_metadata(warehouse / "parquet" / "r1.parquet").num_rows == 3000


def test_load_out_of_memory_at_the_maximum_fails_and_commits_nothing(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare_run(warehouse)
    part = _big_part(warehouse, "r1", 3000)
    monkeypatch.setattr(load_module, "LOAD_MEMORY_MB", 1)
    monkeypatch.setattr(load_module, "LOAD_MEMORY_MAX_MB", 1)
    record = RunRecord("r1", None, datetime.now(UTC), "test", 3000, 0, 1)
    with pytest.raises(duckdb.OutOfMemoryException):
        load_run(warehouse, record, [str(part)], [])
    con = connect(warehouse, read_only=True)
    try:
        for table in ("articles", "lineage", "runs", "source_state"):
            assert con.execute(f"SELECT count(*) FROM {table}").fetchall() == [(0,)], table
    finally:
        con.close()
    assert not list((warehouse / "parquet").glob("*.parquet"))


def test_prepare_creates_missing_views_and_leaves_the_catalog_alone_otherwise(
    warehouse: Path,
) -> None:
    views = sql("warehouse/view_names.sql")
    prepare_run(warehouse)
    con = connect(warehouse)
    try:
        names = sorted(con.execute(views).fetchall())
        assert ("latest_articles",) in names and len(names) == 5
        con.execute("DROP VIEW rejects_by_reason")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    prepare_run(warehouse)  # a view is missing: all are created
    wal = warehouse / "articles.duckdb.wal"  # checkpointed on close: any write shows below
    assert not wal.exists() or wal.stat().st_size == 0
    mtime = (warehouse / "articles.duckdb").stat().st_mtime_ns
    prepare_run(warehouse)  # nothing missing: nothing written
    assert (warehouse / "articles.duckdb").stat().st_mtime_ns == mtime
    con = connect(warehouse, read_only=True)
    try:
        assert sorted(con.execute(views).fetchall()) == names
    finally:
        con.close()
