"""Worker processes: a document that runs too long or hangs cannot stall a run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from flows.core.units import BatchResult, WorkUnit
from flows.executors.pool import PoolClosed, WorkerPool

from .items import PARAGRAPHS, item_text

pytestmark = pytest.mark.timeout(120)


def _units(tmp_path: Path, heavy_first: bool = True) -> list[WorkUnit]:
    """A pathological page (a 40,000-row table: seconds of parsing and extraction) + 2 items."""
    rows = "".join(f"<tr><td>{i}</td><td>{PARAGRAPHS[i % 3]}</td></tr>" for i in range(40_000))
    heavy = tmp_path / "heavy.html"
    heavy.write_text(
        "<html><head><link rel=canonical href='https://h.example/table'><title>T</title></head>"
        f"<body><article><table>{rows}</table></article></body></html>",
        "utf-8",
    )
    paths = [heavy] if heavy_first else []
    for i in range(2):
        p = tmp_path / f"ok{i}.txt"
        p.write_text(item_text(1690933501000, f"OK {i}", f"https://ok.example/{i}"), "utf-8")
        paths.append(p)
    return [WorkUnit(source=str(p), path=str(p), seq=i) for i, p in enumerate(paths)]


def gone(pid: int) -> bool:
    """The process has exited (a zombie has exited too: only its exit status is left)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _reasons(result: BatchResult) -> dict[str, int]:
    return result.reasons


def test_soft_budget_rejects_a_slow_document_and_keeps_the_worker(tmp_path: Path) -> None:
    (tmp_path / "stage").mkdir()
    with WorkerPool(1, budget_s=0.2, hard_kill_s=30) as pool:
        result = pool.run_batch(_units(tmp_path), str(tmp_path / "stage"), "b1")
        assert (result.articles, _reasons(result)) == (2, {"timeout": 1})
        assert pool.restarts == 0  # the soft budget stopped it, not the parent's kill


@pytest.mark.parametrize(
    ("sig", "reason"), [(signal.SIGSTOP, "timeout"), (signal.SIGKILL, "parse_error")]
)
def test_a_hung_or_dead_worker_is_replaced_and_the_batch_finishes(
    tmp_path: Path, sig: signal.Signals, reason: str
) -> None:
    (tmp_path / "stage").mkdir()
    units = _units(tmp_path)
    with WorkerPool(1, budget_s=0, hard_kill_s=1.0) as pool:
        pool.start()
        (pid,) = pool.pids  # the only worker: watch it start the heavy page
        out: list[BatchResult] = []
        runner = threading.Thread(
            target=lambda: out.append(pool.run_batch(units, str(tmp_path / "stage"), "b1"))
        )
        runner.start()
        while pool.current_document(pid) != 0:
            time.sleep(0.005)
        os.kill(pid, sig)  # stuck (SIGSTOP) or crashed (SIGKILL) mid-document
        runner.join()  # the test's timeout stands for a batch that never comes back
        result = out[0]
        assert (result.items, result.articles, _reasons(result)) == (3, 2, {reason: 1})
        assert pool.restarts == 1
        assert gone(pid) and pid not in pool.pids


def test_workers_are_recycled_after_max_docs(tmp_path: Path) -> None:
    (tmp_path / "stage").mkdir()
    units = _units(tmp_path, heavy_first=False)
    with WorkerPool(1, max_docs=2) as pool:
        pool.start()
        (first,) = pool.pids
        pool.run_batch(units, str(tmp_path / "stage"), "b1")
        pool.run_batch(units, str(tmp_path / "stage"), "b2")
        assert pool.restarts == 2 and len(pool.pids) == 1 and pool.pids != [first]
        assert gone(first)


def test_a_pool_with_nothing_to_do_spawns_nothing() -> None:
    with WorkerPool(2) as pool:
        assert pool.pids == [] and pool.restarts == 0


def test_a_forced_close_ends_a_running_batch_at_once(tmp_path: Path) -> None:
    """A cancelled run (Ctrl-C): the busy worker is killed, its batch fails with PoolClosed
    (never retried), and no worker process outlives the pool."""
    (tmp_path / "stage").mkdir()
    units = _units(tmp_path)  # the heavy page first: seconds of work
    pool = WorkerPool(1, budget_s=0, hard_kill_s=60)
    pool.start()
    (pid,) = pool.pids
    errors: list[BaseException] = []

    def run() -> None:
        try:
            pool.run_batch(units, str(tmp_path / "stage"), "b1")
        except BaseException as exc:
            errors.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    while pool.current_document(pid) != 0:
        time.sleep(0.005)
    pool.close(force=True)
    # At once: the heavy page is not finished first (its rows would be in the stage).
    runner.join()
    assert [type(e) for e in errors] == [PoolClosed]
    assert gone(pid) and pool.pids == []
    assert not list((tmp_path / "stage").iterdir())
    with pytest.raises(PoolClosed):
        pool.run_batch(units, str(tmp_path / "stage"), "b2")


def test_batches_waiting_for_a_worker_get_one_in_the_order_they_came(tmp_path: Path) -> None:
    """The flow submits the largest batches first: a late small batch must not overtake them,
    or the run ends on one core with a large batch left."""
    (tmp_path / "stage").mkdir()
    heavy, *light = _units(tmp_path)
    order: list[str] = []
    lock = threading.Lock()
    with WorkerPool(1, budget_s=0, hard_kill_s=60) as pool:
        pool.start()

        def run(units: list[WorkUnit], batch_id: str) -> None:
            pool.run_batch(units, str(tmp_path / "stage"), batch_id)
            with lock:
                order.append(batch_id)

        threads = [threading.Thread(target=run, args=([heavy], "first"))]
        threads[0].start()
        for n in range(4):  # each waits longer than any polling interval before its turn
            time.sleep(0.7)
            threads.append(threading.Thread(target=run, args=(light, f"waiting-{n}")))
            threads[-1].start()
        for thread in threads:
            thread.join(timeout=60)
    assert order == ["first", "waiting-0", "waiting-1", "waiting-2", "waiting-3"]


def test_closing_the_pool_wakes_the_batches_waiting_for_a_worker(tmp_path: Path) -> None:
    (tmp_path / "stage").mkdir()
    units = _units(tmp_path)
    pool = WorkerPool(1, budget_s=0, hard_kill_s=60)
    pool.start()
    errors: list[BaseException] = []

    def run(batch_id: str) -> None:
        try:
            pool.run_batch(units, str(tmp_path / "stage"), batch_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"b{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    (pid,) = pool.pids
    while pool.current_document(pid) != 0:  # one batch has the worker, two wait for it
        time.sleep(0.005)
    pool.close(force=True)
    for thread in threads:
        thread.join()  # a waiting batch that hangs is caught by the test's timeout
    assert [type(e) for e in errors] == [PoolClosed] * 3
    pool.close()  # twice, as the flow does: no error, no worker left
    assert pool.pids == [] and gone(pid)


def test_a_worker_collects_garbage_less_often_but_still_collects() -> None:
    """tune_collector, run in a fresh interpreter as a worker runs it: the same allocations
    start fewer collections of the young generation (counted by gc's callbacks), and a
    reference cycle is still freed."""
    code = (
        "import gc, weakref\n"
        "import flows.transform.article\n"
        "from flows.executors.pool import tune_collector\n"
        "young = []\n"
        "gc.callbacks.append(\n"
        "    lambda phase, info: young.append(1) if phase == 'start' and info['generation'] == 0\n"
        "    else None\n"
        ")\n"
        "def churn():\n"
        "    young.clear()\n"
        "    kept = [[] for _ in range(200_000)]\n"
        "    return len(young)\n"
        "before = churn()\n"
        "tune_collector()\n"
        "after = churn()\n"
        "assert after * 5 < before, (before, after)\n"
        "class Node: pass\n"
        "a, b = Node(), Node(); a.other, b.other = b, a\n"
        "gone = weakref.ref(a); del a, b\n"
        "kept = [[] for _ in range(200_000)]\n"
        "assert gone() is None, 'the cycle was never collected'\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr
