"""The side tables of a load, in its transaction: article_meta, and the story each new article
joins (near-duplicate copies across outlets share one).

Candidates come from DuckDB (articles sharing a band of their MinHash signatures, verified by
the estimated similarity); the choice is made here, in the run's founding order (the earliest
published first): an article joins the story of its most similar article that already has
one, or starts its own. An article keeps its story once it has one, so a story's id and
membership never change when later copies arrive or a run is repeated.

A run costs what its own articles cost, however large the warehouse: an article is compared
only with articles of days within STORY_WINDOW_DAYS of its own, and the bands are read only
for the periods the run's days span (bound as constants, so DuckDB skips the row groups of
other periods); every other table is read by key (the run's urls, its candidates), in lists
of at most KEYS_PER_QUERY that DuckDB answers from the primary key's index.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from flows.core.settings import (
    KEYS_PER_QUERY,
    STORY_BAND_ROWS,
    STORY_PERMUTATIONS,
    STORY_THRESHOLD,
    STORY_WINDOW_DAYS,
)
from flows.core.sqlfiles import sql


def story_id(url: str) -> str:
    """A story's id: its first article's, a short hash of that url."""
    return hashlib.blake2b(url.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def _column(con: duckdb.DuckDBPyConnection, name: str) -> list[Any]:
    """The first column of the query ``sql/<name>``."""
    return [row[0] for row in con.execute(sql(name)).fetchall()]


def _by_keys(
    con: duckdb.DuckDBPyConnection,
    name: str,
    keys: Sequence[str],
    params: Mapping[str, Any] | None = None,
) -> list[tuple[Any, ...]]:
    """Run ``sql/<name>`` once per chunk of ``keys`` (bound as $keys, answered from the
    primary key's index); the rows of all chunks."""
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(keys), KEYS_PER_QUERY):
        chunk = {**(params or {}), "keys": list(keys[start : start + KEYS_PER_QUERY])}
        cursor = con.execute(sql(name), chunk)
        if cursor.description is not None:
            rows.extend(cursor.fetchall())
    return rows


def periods(days: Sequence[date], window: int) -> list[tuple[date, date]]:
    """``days`` (sorted) gathered into periods: a day joins the period before it when their
    windows overlap. Each period is read once, from its first day minus the window to its
    last plus the window."""
    out: list[tuple[date, date]] = []
    for day in days:
        if out and (day - out[-1][1]).days <= 2 * window:
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out


def load_side_tables(con: duckdb.DuckDBPyConnection, parts: Sequence[str], run_day: date) -> None:
    """Fill article_meta, the signatures and article_stories for the run's loaded versions
    (the ``decided`` table of the merge); ``run_day``: the day of the run's articles that
    have no publication date."""
    loaded = _column(con, "load/loaded_keys.sql")
    _by_keys(con, "load/delete_meta.sql", loaded)
    con.execute(sql("load/insert_meta.sql"), {"parts": list(parts)})
    con.execute(
        sql("load/stage_stories.sql"),
        {"parts": list(parts), "permutations": STORY_PERMUTATIONS, "run_day": run_day},
    )
    _replace_signatures(con, loaded)
    matches: dict[str, list[str]] = {}
    for url, other, _similarity in _story_matches(con):
        matches.setdefault(url, []).append(other)
    run = _column(con, "load/run_stories.sql")
    others = sorted({other for found in matches.values() for other in found})
    known = {url: story for url, story in _by_keys(con, "load/known_stories.sql", [*run, *others])}
    chosen = choose_stories(
        [(url, known.get(url)) for url in run],
        {url: [(other, known.get(other)) for other in found] for url, found in matches.items()},
    )
    assigned = pa.table(
        {"url": [u for u, _ in chosen], "story_id": [s for _, s in chosen]},
        schema=pa.schema([("url", pa.string()), ("story_id", pa.string())]),
    )
    con.register("assigned_stories", assigned)
    try:
        con.execute(sql("load/insert_stories.sql"))
    finally:
        con.unregister("assigned_stories")


def _replace_signatures(con: duckdb.DuckDBPyConnection, loaded: Sequence[str]) -> None:
    """The run's signatures and bands in place of its urls' earlier ones: those are found by
    key, their bands by the days their signatures were filed under."""
    con.execute(sql("warehouse/band_key.sql"))
    con.execute(sql("load/replaced_signatures.sql"))
    _by_keys(con, "load/note_signatures.sql", loaded)
    _by_keys(con, "load/delete_signatures.sql", loaded)
    for first, last in periods(_column(con, "load/replaced_days.sql"), STORY_WINDOW_DAYS):
        con.execute(sql("load/delete_bands.sql"), {"lo": first, "hi": last})
    bands = {"permutations": STORY_PERMUTATIONS, "band_rows": STORY_BAND_ROWS}
    con.execute(sql("load/run_bands.sql"), bands)
    con.execute(sql("load/insert_signatures.sql"))


def _story_matches(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, float]]:
    """``(url, other, similarity)``: the run's articles and their similar articles within the
    story window, most similar first."""
    window = timedelta(days=STORY_WINDOW_DAYS)
    con.execute(sql("load/story_pairs.sql"))
    for first, last in periods(_column(con, "load/run_days.sql"), STORY_WINDOW_DAYS):
        params = {
            "run_lo": first,
            "run_hi": last,
            "lo": first - window,
            "hi": last + window,
            "window": STORY_WINDOW_DAYS,
        }
        con.execute(sql("load/pair_candidates.sql"), params)
    con.execute(sql("load/candidate_signatures.sql"))
    _by_keys(con, "load/fetch_signatures.sql", _column(con, "load/pair_others.sql"))
    rows = con.execute(sql("load/story_matches.sql"), {"threshold": STORY_THRESHOLD}).fetchall()
    return [(url, other, similarity) for url, other, similarity in rows]


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
