"""Run-level guards with real Prefect states: parameters checked by the flow itself, and a
run where most inputs fail with internal_error loads the rest and then ends Failed."""

from __future__ import annotations

from pathlib import Path

import pytest

import flows.transform.article as article_module
from flows.load.warehouse import connect

from .items import write_item

pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.timeout(180)]


def test_the_flow_checks_its_parameters_at_its_start(tmp_path: Path) -> None:
    from flows.ingest import ingest

    src = tmp_path / "in"
    write_item(src, "a.txt", 1690933501000, "T", "https://a.example/a")
    for params, named in (
        ({"batch_size": 0}, "batch_size (--batch-size)"),
        ({"workers": -3}, "workers (--workers)"),
        ({"max_internal_error_share": -0.1}, "max_internal_error_share"),
    ):
        state = ingest(
            sources=[str(src)], warehouse=str(tmp_path / "wh"), return_state=True, **params
        )
        assert state.is_failed()
        with pytest.raises(ValueError, match=named.replace("(", r"\(").replace(")", r"\)")):
            state.result()
    assert not (tmp_path / "wh" / "articles.duckdb").exists()


def _rows(warehouse: Path, sql: str) -> list[tuple]:
    con = connect(warehouse, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_a_systemic_share_of_internal_errors_fails_the_run_after_loading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug that hits most inputs (here: the extraction step raising on every `/bug/` URL,
    in batches run on in-process Dask worker threads so the patch applies) must not pass for
    bad data: the good inputs are loaded, the rejects recorded, and the run ends Failed."""
    from distributed import Client, LocalCluster

    from flows.ingest import SystemicFailure, ingest

    real = article_module.extract_body

    def buggy(tree: object, url: str | None, **kwargs: object) -> str:
        if url and "/bug/" in url:
            raise AttributeError("'NoneType' object has no attribute 'text'")
        return real(tree, url, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(article_module, "extract_body", buggy)
    src = tmp_path / "in"
    for i in range(3):
        write_item(src, f"bug{i}.txt", 1690933501000 + i, f"Bug {i}", f"https://a.example/bug/{i}")
    write_item(src, "good.txt", 1690933509000, "Good", "https://a.example/good")
    wh = tmp_path / "wh"
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        failed = ingest(
            sources=[str(src)],
            warehouse=str(wh),
            dask_address=cluster.scheduler_address,
            return_state=True,
        )
        assert failed.is_failed()
        with pytest.raises(SystemicFailure, match=r"3 of 4 inputs failed with internal_error"):
            failed.result()
        assert _rows(wh, "SELECT url FROM articles") == [("https://a.example/good",)]
        rejects = _rows(wh, "SELECT reason, detail FROM rejects ORDER BY source")
        assert (
            rejects
            == [("internal_error", "AttributeError: 'NoneType' object has no attribute 'text'")] * 3
        )
        assert _rows(wh, "SELECT inputs, new, rejected FROM runs") == [(4, 1, 3)]

        # Internal errors are not retried (their fingerprints are kept, as for bad data): only
        # changed files are processed again. Under a share of 1 nothing fails the run.
        for path in src.glob("bug*.txt"):
            path.touch()  # changed, so not skipped as unchanged
            path.write_bytes(path.read_bytes() + b"\n")
        passed = ingest(
            sources=[str(src)],
            warehouse=str(wh),
            dask_address=cluster.scheduler_address,
            max_internal_error_share=1.0,
            return_state=True,
        )
        assert passed.is_completed()
        summary = passed.result()
        assert summary["reasons"] == {"internal_error": 3} and summary["skipped_unchanged"] == 1
