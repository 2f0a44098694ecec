"""Every SQL file in sql/ runs on an empty warehouse (DESIGN.md §4.11)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows.core.sqlfiles import SQL_DIR, files
from flows.load.merge import RunRecord, load_run
from flows.load.warehouse import connect, prepare_run


def test_empty_run_loads_and_every_view_and_query_runs(warehouse: Path) -> None:
    prepare_run(warehouse)
    counts, parquet_file = load_run(
        warehouse, RunRecord("empty", None, datetime.now(UTC), "", 0, 0, 2), [], []
    )
    assert (counts.new, parquet_file) == (0, None)
    con = connect(warehouse, read_only=True)
    try:
        for path in files("views"):
            con.execute(f"SELECT * FROM {path.stem}").fetchall()
        for path in files("queries"):
            con.execute(path.read_text(encoding="utf-8")).fetchall()
        assert con.execute("SELECT inputs FROM runs").fetchall() == [(0,)]
    finally:
        con.close()


@pytest.mark.parametrize("path", sorted(SQL_DIR.rglob("*.sql")), ids=lambda p: p.name)
def test_one_object_per_file_named_after_it(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    if path.parent.name == "views":
        assert f"CREATE OR REPLACE VIEW {path.stem} AS" in text
    if path.parent.name == "ddl":
        name = path.stem
        assert f"CREATE TABLE IF NOT EXISTS {name} (" in text
    assert "{" not in text, "values are bound as parameters, never formatted into SQL"
