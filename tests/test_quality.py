"""Body quality against trafilatura's own defaults on the same bytes, scored as the
benchmarks score it (bench/score.py); bench.paired runs the same comparison on every page."""

from __future__ import annotations

import pytest

from bench.paired import KEPT_CHARS, corpus_pages, pipeline_page, trafilatura_page
from bench.score import score

from .conftest import shared_path

# The Zyte pages and the two smallest boilerplate subsets (the whole corpus is bench.paired's:
# minutes of CPU). Each must hold on its own, not only on average.
SUBSETS = ("zyte", "cleaneval-dev", "cleanportaleval")


@pytest.fixture(scope="module")
def outcomes() -> dict[str, list[tuple[dict, dict, dict]]]:
    shared = shared_path("corpus").parent
    by_subset: dict[str, list[tuple[dict, dict, dict]]] = {s: [] for s in SUBSETS}
    for page in corpus_pages(shared, set(SUBSETS)):
        by_subset[page["subset"]].append((page, pipeline_page(page), trafilatura_page(page)))
    return by_subset


@pytest.mark.parametrize("subset", SUBSETS)
def test_body_f1_is_at_least_trafilaturas_defaults(
    outcomes: dict[str, list[tuple[dict, dict, dict]]], subset: str
) -> None:
    rows = outcomes[subset]
    assert rows, f"no pages of {subset}"
    ours = score((pipe["text"], page["body"]) for page, pipe, _ in rows)
    theirs = score((traf["text"], page["body"]) for page, _, traf in rows)
    assert ours.f1 >= theirs.f1, (subset, ours, theirs)


@pytest.mark.parametrize("subset", SUBSETS)
def test_no_page_trafilatura_extracts_is_rejected(
    outcomes: dict[str, list[tuple[dict, dict, dict]]], subset: str
) -> None:
    lost = [
        (page["id"], pipe["reject"], pipe["detail"])
        for page, pipe, traf in outcomes[subset]
        if pipe.get("reject") and len(traf["text"] or "") >= KEPT_CHARS
    ]
    assert lost == []
