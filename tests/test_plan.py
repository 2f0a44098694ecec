"""Cutting discovery into batches: full batches, a shrinking tail, workers started early."""

from __future__ import annotations

from collections.abc import Iterator

from flows.core.units import WorkUnit
from flows.plan import TAIL_BATCH_MIN, batches


def _units(n: int, seen: list[int] | None = None) -> Iterator[WorkUnit]:
    for i in range(n):
        if seen is not None:
            seen.append(i)
        yield WorkUnit(source=f"/in/{i}.html", path=f"/in/{i}.html", seq=i)


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
