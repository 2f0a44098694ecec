"""Cutting discovery into batches: full batches, a shrinking tail, workers started early; the
folders of killed runs' downloads handed to discovery."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from flows.core.units import WorkUnit
from flows.plan import TAIL_BATCH_MIN, batches, kept_downloads, unit_bytes


def _units(n: int, seen: list[int] | None = None, size: int | None = None) -> Iterator[WorkUnit]:
    for i in range(n):
        if seen is not None:
            seen.append(i)
        yield WorkUnit(source=f"/in/{i}.html", path=f"/in/{i}.html", seq=i, size=size)


def test_batches_are_full_until_the_tail_which_shrinks_so_workers_finish_together() -> None:
    sizes = [len(b) for b in batches(_units(1000), 100, 1000, 2)]
    assert sum(sizes) == 1000
    assert sizes[:7] == [100] * 7  # 300 left: less than two rounds of both workers
    tail = sizes[7:]
    assert tail == sorted(tail, reverse=True) and tail[0] < 100
    assert all(s >= TAIL_BATCH_MIN for s in tail[:-1])


def test_a_growing_estimate_keeps_batches_full() -> None:
    """A WARC's records are estimated as discovery reads it: the tail follows the estimate."""
    estimate = [10]
    sizes = []
    for chunk in batches(_units(1000), 100, lambda: estimate[0], 2):
        sizes.append(len(chunk))
        estimate[0] = 1000
    assert sizes[0] == 25 and sizes[1:7] == [100] * 6 and sum(sizes) == 1000


def test_workers_are_started_on_the_first_unit_before_the_first_batch_is_filled() -> None:
    seen: list[int] = []
    started_after: list[int] = []
    chunks = batches(
        _units(1000, seen), 100, 1000, 2, on_first_unit=lambda: started_after.append(len(seen))
    )
    first = next(chunks)
    assert started_after == [1] and len(first) == 100  # once, after one unit was discovered
    assert sum(len(c) for c in chunks) == 900 and started_after == [1]


def test_a_run_with_nothing_to_transform_starts_no_worker() -> None:
    called: list[bool] = []
    assert list(batches(_units(0), 100, 0, 2, on_first_unit=lambda: called.append(True))) == []
    assert called == []


def test_kept_downloads_are_real_folders_only(tmp_path: Path) -> None:
    """What recovery kept of killed runs' downloads, oldest run first; never a folder reached
    through a symlink (moving files out of it would take them from somewhere else)."""
    resume = tmp_path / "staging" / ".resume"
    for run in ("20260102T000000-b", "20260101T000000-a", "20260103T000000-c"):
        (resume / run).mkdir(parents=True)
    (resume / "20260101T000000-a" / "downloads").mkdir()
    (resume / "20260102T000000-b" / "downloads").mkdir()
    outside = tmp_path / "outside"
    (outside / "downloads").mkdir(parents=True)
    (resume / "20260103T000000-c" / "downloads").symlink_to(outside / "downloads")
    (resume / "20260104T000000-d").symlink_to(outside, target_is_directory=True)
    assert kept_downloads(tmp_path / "staging") == [
        resume / "20260101T000000-a" / "downloads",
        resume / "20260102T000000-b" / "downloads",
    ]
    assert kept_downloads(tmp_path / "nowhere") == []


def test_small_inputs_travel_in_fewer_larger_batches_than_pages() -> None:
    """Batches are cut by bytes as well as count: 20,000 items of 4 KB make a handful of
    batches, 10,000 pages of 100 KB keep a thousand a batch."""
    items = [len(b) for b in batches(_units(20_000, size=4096), 10_000, 20_000, 2)]
    pages = [len(b) for b in batches(_units(10_000, size=100 * 1024), 10_000, 10_000, 2)]
    assert sum(items) == 20_000 and sum(pages) == 10_000
    assert items[0] > 1000 and len(items) < 20
    assert pages[:6] == [1000] * 6 and len(pages) > len(items)
    # the tail still shrinks so both workers end together, but not below a megabyte of input
    assert items == sorted(items, reverse=True)
    assert all(n * 4096 >= 1024 * 1024 for n in items[:-1])


def test_a_batch_ends_at_its_byte_limit_whatever_its_count() -> None:
    sizes = [10, 10, 500, 10, 10, 10, 600, 10, 10]
    units = (WorkUnit(source=str(i), size=n) for i, n in enumerate(sizes))
    cut = list(batches(units, 100, 0, 2, most_bytes=500))  # expected 0: no tail rounds
    assert [[unit_bytes(u) for u in b] for b in cut] == [
        [10, 10, 500],
        [10, 10, 10, 600],
        [10, 10],
    ]


def test_a_unit_weighs_its_data_its_file_size_or_a_page() -> None:
    assert unit_bytes(WorkUnit(source="u", data=b"x" * 30, size=7)) == 30
    assert unit_bytes(WorkUnit(source="f", size=7)) == 7
    assert unit_bytes(WorkUnit(source="f", size=0)) == 1  # an empty file still counts
    assert unit_bytes(WorkUnit(source="warc#0")) == 100 * 1024  # size unknown: a page
