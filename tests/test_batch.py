from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from flows.schema import REJECT_SCHEMA, STAGING_SCHEMA
from flows.transform.batch import process_batch
from flows.units import WorkUnit

from .items import write_item


def test_batch_writes_typed_parts(tmp_path: Path) -> None:
    src = tmp_path / "in"
    good = write_item(src, "a.txt", 1690933501000, "Budget passes", "https://city.example/a")
    empty = src / "empty.txt"
    empty.write_bytes(b"")
    units = [WorkUnit(source=str(p), path=str(p), seq=i) for i, p in enumerate([good, empty])]
    out = tmp_path / "stage"
    out.mkdir()
    result = process_batch(units, str(out), "000001")
    assert (result.items, result.articles, result.rejected) == (2, 1, 1)
    assert result.reasons == {"empty_file": 1}
    articles = pq.read_table(result.articles_path)
    assert articles.schema.equals(STAGING_SCHEMA)
    assert articles.column("url").to_pylist() == ["https://city.example/a"]
    rejects = pq.read_table(result.rejects_path)
    assert rejects.schema.equals(REJECT_SCHEMA)
    assert rejects.column("source").to_pylist() == [str(empty)]
    assert not list(out.glob(".*"))  # no temporary files left visible or behind
