from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from flows.core.schema import REJECT_SCHEMA, STAGING_SCHEMA
from flows.core.units import WorkUnit
from flows.executors.batch import process_batch

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


def test_the_runs_start_bounds_the_dates_of_every_document(tmp_path: Path) -> None:
    """The run's start reaches the transform as a parameter: a date after it is not taken."""
    page = tmp_path / "page.html"
    page.write_text(
        '<html><head><meta property="article:published_time" content="2020-05-01T10:00:00Z">'
        "<title>Harbour bridge reopens</title></head><body><article><h1>Harbour bridge reopens"
        "</h1><p>"
        + "The harbour bridge reopened on Friday after two years of repairs. " * 8
        + "</p></article></body></html>",
        encoding="utf-8",
    )
    unit = WorkUnit(source=str(page), path=str(page), url="https://port.example/bridge")
    stamps = {}
    for name, run_start in (("now", None), ("2010", datetime(2010, 1, 1, tzinfo=UTC))):
        out = tmp_path / name
        out.mkdir()
        result = process_batch([unit], str(out), "000001", run_start=run_start)
        row = pq.read_table(result.articles_path).to_pylist()[0]
        stamps[name] = (row["timestamp"], row["timestamp_source"])
    assert stamps["now"][0] == datetime(2020, 5, 1, 10, tzinfo=UTC)
    assert stamps["2010"][0] is None and stamps["2010"][1].startswith("implausible:")


# --- the per-document budget counts CPU time, not the wall clock ----------------------------


def _spin_until_stopped() -> None:
    """Burn CPU until the budget stops it (pytest's own timeout guards a budget that never
    fires)."""
    spins = 0
    while spins >= 0:
        spins += 1


def _budget_outcomes(budget_s: float) -> dict[str, bool]:
    import time

    from flows.executors.batch import DocumentTimeout, time_budget

    out: dict[str, bool] = {}
    try:
        with time_budget(budget_s):
            time.sleep(budget_s * 3)  # waiting: a busy machine's wall time, no CPU of ours
        out["waited"] = True
    except DocumentTimeout:
        out["waited"] = False
    try:
        with time_budget(budget_s):
            _spin_until_stopped()
    except DocumentTimeout:
        out["spun"] = False
    return out


@pytest.mark.timeout(60)
def test_the_budget_counts_cpu_time_in_the_main_thread() -> None:
    assert _budget_outcomes(0.3) == {"waited": True, "spun": False}


@pytest.mark.timeout(60)
def test_the_budget_counts_cpu_time_in_another_thread() -> None:
    """A Dask worker runs batches in a thread: the same rule there."""
    import threading

    result: list[dict[str, bool]] = []
    thread = threading.Thread(target=lambda: result.append(_budget_outcomes(0.3)))
    thread.start()
    thread.join()
    assert result == [{"waited": True, "spun": False}]


@pytest.mark.timeout(60)
def test_a_batch_installs_the_budget_signal_once_and_restores_it() -> None:
    import signal

    from flows.executors.batch import DocumentTimeout, budget_signal, time_budget

    before = signal.getsignal(signal.SIGPROF)
    with budget_signal():
        ours = signal.getsignal(signal.SIGPROF)
        assert ours is not before
        with time_budget(0.2):  # a document inside: only its timer is armed
            pass
        assert signal.getsignal(signal.SIGPROF) is ours
        with pytest.raises(DocumentTimeout), time_budget(0.2):
            _spin_until_stopped()
    assert signal.getsignal(signal.SIGPROF) is before
