"""The side tables of a load, in its transaction: article_meta, and the story each new article
joins (near-duplicate copies across outlets share one).

Candidates come from DuckDB (articles sharing a band of their MinHash signatures, verified by
the estimated similarity); the choice is made here, in the run's founding order (the earliest
published first): an article joins the story of its most similar article that already has
one, or starts its own. An article keeps its story once it has one, so a story's id and
membership never change when later copies arrive or a run is repeated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import duckdb
import pyarrow as pa

from flows.core.settings import STORY_BAND_ROWS, STORY_PERMUTATIONS, STORY_THRESHOLD
from flows.core.sqlfiles import sql


def story_id(url: str) -> str:
    """A story's id: its first article's, a short hash of that url."""
    return hashlib.blake2b(url.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def load_side_tables(con: duckdb.DuckDBPyConnection, parts: Sequence[str]) -> None:
    """Fill article_meta, the signatures and article_stories for the run's loaded versions
    (the ``decided`` table of the merge)."""
    con.execute(sql("load/insert_meta.sql"), {"parts": list(parts)})
    con.execute(
        sql("load/stage_stories.sql"),
        {"parts": list(parts), "permutations": STORY_PERMUTATIONS},
    )
    con.execute(
        sql("load/insert_signatures.sql"),
        {"permutations": STORY_PERMUTATIONS, "band_rows": STORY_BAND_ROWS},
    )
    matches: dict[str, list[tuple[str, str | None]]] = {}
    candidates = con.execute(sql("load/story_candidates.sql"), {"threshold": STORY_THRESHOLD})
    for url, other, _similarity, known_story in candidates.fetchall():
        matches.setdefault(url, []).append((other, known_story))
    chosen = choose_stories(con.execute(sql("load/run_stories.sql")).fetchall(), matches)
    assigned = pa.table(
        {"url": [u for u, _ in chosen], "story_id": [s for _, s in chosen]},
        schema=pa.schema([("url", pa.string()), ("story_id", pa.string())]),
    )
    con.register("assigned_stories", assigned)
    try:
        con.execute(sql("load/insert_stories.sql"))
    finally:
        con.unregister("assigned_stories")


def choose_stories(
    run: Sequence[tuple[str, str | None]],
    matches: dict[str, list[tuple[str, str | None]]],
) -> list[tuple[str, str]]:
    """``(url, story_id)`` for each of the run's articles without a story yet. ``run``: its
    ``(url, story it already has)`` in founding order; ``matches``: for each url, its
    similar articles, most similar first, with the story each already has (None: in this run)."""
    story_of: dict[str, str] = {}
    chosen: list[tuple[str, str]] = []
    for url, existing in run:
        if existing is not None:
            story_of[url] = existing  # stable: a story once given is never taken back
            continue
        story = None
        for other, known in matches.get(url, ()):
            # An article of this run joins only one placed before it in the founding order.
            story = known or story_of.get(other)
            if story is not None:
                break
        story_of[url] = story or story_id(url)
        chosen.append((url, story_of[url]))
    return chosen
