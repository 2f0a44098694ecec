"""Body quality on the zyte benchmark pages, scored as the benchmark does (bench/score.py)."""

from __future__ import annotations

from bench.score import score, zyte_pages
from flows.transform.article import transform_unit
from flows.units import Article, WorkUnit

from .conftest import shared_path

# The target on these pages (trafilatura with metadata scores 0.958): our floor.
BODY_F1_FLOOR = 0.970


def test_body_f1_on_zyte_pages_reaches_the_floor() -> None:
    shared = shared_path("corpus", "zyte").parents[1]
    pairs = []
    for page_id, url, html, expected in zyte_pages(shared):
        outcome = transform_unit(WorkUnit(source=page_id, data=html, url=url))
        pairs.append((outcome.body if isinstance(outcome, Article) else None, expected))
    result = score(pairs)
    assert result.pages == 181
    assert result.f1 >= BODY_F1_FLOOR, result
