"""Body quality and throughput: the pipeline's transform beside trafilatura with metadata.

    .venv/bin/python -m bench.quality [--rounds 3] [--workers N]

On the Zyte pages (shared/corpus/zyte), in one run, alternating rounds over all cores:
  trafilatura  bare_extraction(html, url=..., with_metadata=True): title, date and body, as a
               user of the library gets them (default settings)
  pipeline     flows.executors.batch.transform_unit: decode, metadata, dates, body
Each prints body F1 with precision and recall (bench/score.py) and pages/s of its best round
(pool start-up excluded); the ratio pipeline / trafilatura is the throughput target.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
from collections.abc import Callable
from pathlib import Path

from bench import SHARED
from bench.score import Score, score, zyte_pages

Page = tuple[str, str, bytes]


def trafilatura_body(page: Page) -> str | None:
    import trafilatura

    _, url, html = page
    doc = trafilatura.bare_extraction(html, url=url, with_metadata=True)
    return doc.text if doc is not None else None


def pipeline_body(page: Page) -> str | None:
    from flows.core.units import Article, WorkUnit
    from flows.executors.batch import transform_unit

    page_id, url, html = page
    outcome = transform_unit(WorkUnit(source=page_id, data=html, url=url))
    return outcome.body if isinstance(outcome, Article) else None


def _warm(_: int) -> None:
    """Import everything in the worker before the clock starts."""
    import trafilatura  # noqa: F401

    import flows.transform.article  # noqa: F401


def timed(
    pool: mp.pool.Pool, fn: Callable[[Page], str | None], pages: list[Page]
) -> tuple[list[str | None], float]:
    started = time.perf_counter()
    texts = pool.map(fn, pages, chunksize=2)
    return texts, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    truth = list(zyte_pages(args.shared))
    pages = [(pid, url, html) for pid, url, html, _ in truth]
    expected = [body for *_, body in truth]
    stages = {"trafilatura": trafilatura_body, "pipeline": pipeline_body}
    best = dict.fromkeys(stages, float("inf"))
    results: dict[str, Score] = {}
    with mp.get_context("spawn").Pool(args.workers) as pool:
        pool.map(_warm, range(args.workers * 4))
        for _ in range(args.rounds):
            for name, fn in stages.items():
                texts, seconds = timed(pool, fn, pages)
                best[name] = min(best[name], seconds)
                results[name] = score(zip(texts, expected, strict=True))
    print(f"{len(pages)} Zyte pages, {args.workers} workers, best of {args.rounds} rounds")
    for name, result in results.items():
        print(
            f"  {name:12} F1 {result.f1:.4f} (precision {result.precision:.4f}, "
            f"recall {result.recall:.4f})  {len(pages) / best[name]:6.1f} pages/s"
        )
    ratio = best["trafilatura"] / best["pipeline"]
    print(f"  throughput: pipeline / trafilatura with metadata = {ratio:.2f}x")


if __name__ == "__main__":
    main()
