"""Resume (flows/load/resume.py): a killed run's finished batches spare the next run their work."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from flows.core.settings import RESUME_DIRNAME
from flows.core.units import Rejection, WorkUnit
from flows.executors import batch
from flows.executors.batch import process_batch
from flows.extract.files import fingerprint
from flows.extract.warc import index_warc
from flows.load.resume import UNUSED_FOR_S, Resume, identity, note_batch, resume_key
from flows.load.warehouse import point_to_staging, recover

from .items import write_item
from .warcs import page, response, write_warc


def _units(paths: list[Path]) -> list[WorkUnit]:
    return [
        WorkUnit(source=str(p), path=str(p), fingerprint=fingerprint(p.stat()), seq=i)
        for i, p in enumerate(paths)
    ]


def _dead_run(
    staging: Path, units: list[WorkUnit], batch_id: str = "000001", warehouse: Path | None = None
) -> Path:
    """A run folder as a killed run leaves it: one finished batch, its parts and its note
    (signed with the key of ``warehouse``, by default the staging folder's parent)."""
    run_dir = staging / f"20260101T000000-{batch_id}"
    run_dir.mkdir(parents=True)
    result = process_batch(units, str(run_dir), batch_id)
    note_batch(run_dir, result, units, resume_key(warehouse or staging.parent))
    return run_dir


def _no_transform(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    called: list[str] = []

    def refuse(unit: WorkUnit, budget_s: float, run_start: object = None) -> Rejection:
        called.append(unit.source)
        return Rejection(unit.source, "internal_error", "transformed again", unit.seq)

    monkeypatch.setattr(batch, "transform_with_budget", refuse)
    return called


def test_a_killed_runs_outcomes_are_taken_not_parsed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "in"
    paths = [
        write_item(src, f"{i}.txt", 1690933501000 + i, f"Story {i}", f"https://r.example/{i}")
        for i in range(3)
    ]
    empty = src / "empty.txt"
    empty.write_bytes(b"")
    staging = tmp_path / "staging"
    _dead_run(staging, _units([*paths, empty]))
    recover(tmp_path, committed=[])
    assert [p.name for p in (staging / RESUME_DIRNAME).iterdir()] == ["20260101T000000-000001"]

    # The next run: one file changed since (a new fingerprint), the others as they were.
    write_item(src, "2.txt", 1690933509999, "Story 2, corrected", "https://r.example/2")
    os.utime(paths[2], ns=(1, 1))
    units = _units([*paths, empty])
    for u in units:
        u.seq += 100
    earlier = Resume(staging, key=resume_key(tmp_path))
    earlier.mark(units)
    called = _no_transform(monkeypatch)
    out = tmp_path / "next"
    out.mkdir()
    result = process_batch(units, str(out), "000001")

    assert called == [str(paths[2])]  # only the changed file is read and parsed again
    assert result.resumed == 3
    rows = pq.read_table(result.articles_path).to_pylist()
    assert [(r["title"], r["seq"]) for r in rows] == [("Story 0", 100), ("Story 1", 101)]
    rejects = pq.read_table(result.rejects_path).to_pylist()
    assert [(r["source"], r["reason"], r["seq"]) for r in rejects] == [
        (str(paths[2]), "internal_error", 102),
        (str(empty), "empty_file", 103),
    ]

    earlier.discard()  # after the load: the folder it used goes
    assert not (staging / RESUME_DIRNAME).exists()


def test_warc_records_are_resumed_by_file_and_record_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warc = write_warc(
        tmp_path / "crawl.warc.gz",
        [response(f"https://w.example/{i}", page(f"Archived {i}")) for i in range(4)],
    )
    fp = fingerprint(warc.stat())
    units = [u for u in index_warc(str(warc), "crawl", fp) if isinstance(u, WorkUnit)]
    assert len({identity(u) for u in units}) == 4
    staging = tmp_path / "staging"
    _dead_run(staging, units[:2])
    recover(tmp_path, committed=[])

    again = [u for u in index_warc(str(warc), "crawl", fp) if isinstance(u, WorkUnit)]
    Resume(staging, key=resume_key(tmp_path)).mark(again)
    called = _no_transform(monkeypatch)
    out = tmp_path / "next"
    out.mkdir()
    result = process_batch(again, str(out), "000001")
    assert called == [u.source for u in again[2:]]
    assert result.resumed == 2
    titles = pq.read_table(result.articles_path).column("title").to_pylist()
    assert titles == ["Archived 0", "Archived 1"]

    # The same file name with other bytes: no record's outcome is taken.
    other = [u for u in index_warc(str(warc), "crawl", "another-fingerprint")]
    Resume(staging, key=resume_key(tmp_path)).mark(other)  # type: ignore[arg-type]
    assert not any("resume_articles" in u.meta for u in other if isinstance(u, WorkUnit))


def test_transient_rejects_are_tried_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_item(tmp_path / "in", "slow.txt", 1690933501000, "Slow", "https://s.example/")
    units = _units([path])
    staging = tmp_path / "staging"
    run_dir = staging / "20260101T000000-000001"
    run_dir.mkdir(parents=True)
    # The killed run's worker timed the page out: a reject that may pass next time.
    preset = {0: Rejection(units[0].source, "timeout", "killed after 15 s", 0)}
    result = process_batch(units, str(run_dir), "000001", preset=preset)
    note_batch(run_dir, result, units, resume_key(tmp_path))
    recover(tmp_path, committed=[])

    again = _units([path])
    Resume(staging, key=resume_key(tmp_path)).mark(again)
    out = tmp_path / "next"
    out.mkdir()
    result = process_batch(again, str(out), "000001")
    assert (result.resumed, result.articles) == (0, 1)


def test_recovery_keeps_only_what_can_be_resumed(tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    path = write_item(tmp_path / "in", "a.txt", 1690933501000, "A", "https://a.example/")
    dead = _dead_run(staging, _units([path]))
    (dead / "crawl.warc.gz").write_bytes(b"a download of the dead run: not kept")
    nothing_done = staging / "20260101T000001-nothing"
    nothing_done.mkdir()
    (nothing_done / "articles-000001.parquet").write_bytes(b"no note: not known to be whole")
    committed = staging / "20260101T000002-commit"
    committed.mkdir()
    (committed / f"{committed.name}.parquet").write_bytes(b"PAR1")
    (staging / "stray-file").write_bytes(b"")

    recover(tmp_path, committed=[f"{committed.name}.parquet"])
    assert sorted(p.name for p in staging.iterdir()) == [RESUME_DIRNAME]
    assert [p.name for p in (staging / RESUME_DIRNAME).iterdir()] == [dead.name]
    kept = staging / RESUME_DIRNAME / dead.name
    assert sorted(p.name for p in kept.iterdir()) == [
        "articles-000001.parquet",
        "done-000001.json",
    ]
    assert (tmp_path / "parquet" / f"{committed.name}.parquet").exists()

    # Unused for a week: dropped by the next run that loads.
    old = time.time() - UNUSED_FOR_S - 60
    os.utime(kept, (old, old))
    Resume(staging, key=resume_key(tmp_path)).discard()
    assert not (staging / RESUME_DIRNAME).exists()
    shutil.rmtree(staging, ignore_errors=True)


def test_a_killed_run_with_its_staging_elsewhere_is_resumed_from_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--staging` (a folder the cluster's workers share): the warehouse keeps a pointer to
    the run's folder; recovery keeps a killed run's outcomes beside it, where the workers can
    read them, and removes a committed run's folder. Nothing is left behind."""
    warehouse, shared = tmp_path / "wh", tmp_path / "shared"
    paths = [
        write_item(tmp_path / "in", f"{i}.txt", 1690933501000 + i, f"S {i}", f"https://e.x/{i}")
        for i in range(2)
    ]
    dead = _dead_run(shared, _units(paths), warehouse=warehouse)
    point_to_staging(warehouse, dead.name, dead)
    committed = shared / "20260101T000002-commit"
    committed.mkdir()
    (committed / "articles-000001.parquet").write_bytes(b"PAR1")
    point_to_staging(warehouse, committed.name, committed)
    stray = shared / "20260101T000003-stray"  # no pointer: another warehouse's, left alone
    stray.mkdir()

    recover(warehouse, committed=[f"{committed.name}.parquet"])
    assert list((warehouse / "staging").iterdir()) == []  # the pointers are gone
    assert sorted(p.name for p in shared.iterdir()) == [RESUME_DIRNAME, stray.name]
    assert [p.name for p in (shared / RESUME_DIRNAME).iterdir()] == [dead.name]

    earlier = Resume(warehouse / "staging", shared, key=resume_key(warehouse))
    units = _units(paths)
    earlier.mark(units)
    called = _no_transform(monkeypatch)
    out = tmp_path / "next"
    out.mkdir()
    assert process_batch(units, str(out), "000001").resumed == 2 and called == []
    earlier.discard()
    assert not (shared / RESUME_DIRNAME).exists()


def test_a_damaged_pointer_removes_nothing_but_itself(tmp_path: Path) -> None:
    warehouse, keepsake = tmp_path / "wh", tmp_path / "precious"
    keepsake.mkdir()
    (keepsake / "data").write_bytes(b"not staging")
    pointer = point_to_staging(warehouse, "20260101T000000-run", keepsake)  # not the run's name
    recover(warehouse, committed=["20260101T000000-run.parquet"])
    assert not pointer.exists() and (keepsake / "data").exists()


def test_a_part_swapped_after_its_check_is_not_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The flow process checks a note's parts; the worker reads them later. A part replaced
    in between (a shared --staging folder) is not taken: its inputs are transformed again."""
    src = tmp_path / "in"
    paths = [
        write_item(src, f"{i}.txt", 1690933501000 + i, f"Story {i}", f"https://r.example/{i}")
        for i in range(2)
    ]
    staging = tmp_path / "staging"
    _dead_run(staging, _units(paths))
    recover(tmp_path, committed=[])
    units = _units(paths)
    Resume(staging, key=resume_key(tmp_path)).mark(units)
    part = Path(units[0].meta["resume_articles"])
    forged = pq.read_table(part).to_pylist()
    forged[0]["title"] = "Forged after the check"
    pq.write_table(pq.read_table(part).from_pylist(forged, schema=pq.read_schema(part)), part)

    called = _no_transform(monkeypatch)
    out = tmp_path / "next"
    out.mkdir()
    result = process_batch(units, str(out), "000001")
    assert result.resumed == 0 and called == [str(p) for p in paths]
