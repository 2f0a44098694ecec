"""What a run costs as the warehouse grows: the same runs into warehouses of 10 thousand,
1 million and 10 million articles, measured in one run.

    python -m bench.scale [--sizes 10000,1000000,10000000] [--new 5000] [--rerun 10000]

Each warehouse is built with SQL (synthetic rows in articles, lineage and source_state, small
bodies; the story side tables in the order of the articles' days, as runs append them;
current_versions by the migration that builds it in place) and its search index in step
(flows.load.search.index.build), once per workdir (later runs copy the built one), then
takes real `article-etl ingest` runs against one `prefect server start`:

- setup (not timed): RERUN generated archived items, so that they are known;
- new: NEW other generated archived items, a news run's (published over three days after the
  warehouse's last; NEWS_SPAN_MS) (wall, peak RSS of the process tree, preparation:
  the prepare-warehouse task plus the run's lookups of its inputs, load: the load task);
- unchanged: the RERUN items again, all skipped unchanged;
- then the views articles_per_day, articles_per_host and latest_articles, a point lookup by
  url, `article-etl maintenance`, and the database file's size per million articles.

A trivial flow (bench/floor.py) gives Prefect's own start-up cost on the same server. The
growth is printed as ratios against the smallest warehouse.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import duckdb

from bench.corpus import ITEM_SUFFIX, generated_item
from bench.run import BIN, DEFAULT_WORKDIR, REPO, Stage, _kill_group, _start_server, measure
from flows.core.settings import STORY_BAND_ROWS, STORY_PERMUTATIONS
from flows.core.sqlfiles import sql
from flows.load.search import index as search_index
from flows.load.warehouse import connect, create_tables, prepare_run

SIZES = (10_000, 1_000_000, 10_000_000)
VIEWS = ("articles_per_day", "articles_per_host", "latest_articles")
ROWS_PER_STEP = 1_000_000  # synthetic rows per INSERT: bounded memory while building
BUILD_VERSION = 4  # of what build_warehouse writes: a cached build of another is not reused
_QUESTIONS = re.compile(r"inputs looked up in the warehouse: \d+ queries, ([0-9.]+) s")

# Synthetic rows: urls on 500 hosts, a timestamp in 2020-2024, a body of ~200 characters;
# each article has one lineage record and one source_state row, as an archived item's run
# leaves them, its source a file beside the benchmark's own items (a shared path prefix, as
# in a real inbox: no min/max statistics tell the run's sources apart from the old ones).
# Values are bound ($lo, $hi, $run, $prefix); the SQL is fixed text.
FILL_ARTICLES = """
INSERT INTO articles
SELECT
    'https://host' || (i % 500) || '.scale.example/a/' || i,
    TIMESTAMPTZ '2020-01-01 00:00:00+00' + to_seconds((i * 7919) % 157680000),
    'Synthetic headline number ' || i,
    repeat('Lorem ipsum dolor sit amet, consectetur adipiscing elit. ', 3) || i,
    CASE WHEN i % 3 = 0 THEN 'https://img.scale.example/' || i || '.jpg' END
FROM range($lo, $hi) AS t(i)
"""
FILL_LINEAGE = """
INSERT INTO lineage (url, source, content_hash, timestamp_source, run_id, ingested_at)
SELECT
    'https://host' || (i % 500) || '.scale.example/a/' || i,
    $prefix || (i // 1000) || '/' || i || '.txt',
    md5(i::VARCHAR),
    'header',
    $run,
    TIMESTAMPTZ '2025-01-01 00:00:00+00'
FROM range($lo, $hi) AS t(i)
"""
FILL_SOURCES = """
INSERT INTO source_state (source, fingerprint, outcome, run_id, attempts, version)
SELECT $prefix || (i // 1000) || '/' || i || '.txt', '2048:' || i, 'article', $run, 1, NULL
FROM range($lo, $hi) AS t(i)
"""


# The side tables of the same articles, filled in order of their timestamps, as runs append
# them: FILL_ARTICLES gives article i the second (i * 7919) mod SECONDS of 2020-2024, so the
# articles of seconds $first to $last are i = (second * $inverse) mod SECONDS, those below $n.
# Each is its own story; its signature is random-looking but fixed (hash(i, k)); its bands and
# signature are filed under the day of its timestamp.
SECONDS = 157_680_000
STEP_ARTICLES = """
CREATE OR REPLACE TEMP TABLE step_articles AS
SELECT
    i,
    'https://host' || (i % 500) || '.scale.example/a/' || i AS url,
    (TIMESTAMPTZ '2020-01-01 00:00:00+00' + to_seconds(second))::DATE AS day,
    list_transform(range($permutations), lambda k: (hash(i, k) % 4294967296)::UINTEGER) AS minhash
FROM (
    SELECT second, (second * $inverse) % $seconds AS i FROM range($first, $last) AS t(second)
)
WHERE i < $n
"""
FILL_META = """
INSERT INTO article_meta
SELECT url, 'en', 'Author ' || (i % 1000), 'Host ' || (i % 500), NULL, NULL, ['synthetic'], 30
FROM step_articles
"""
FILL_SIGNATURES = """
INSERT INTO story_signatures (url, minhash, day) SELECT url, minhash, day FROM step_articles
"""
FILL_BANDS = """
INSERT INTO story_bands
SELECT day, band_key(minhash, band, $band_rows), url
FROM step_articles, range(0, $permutations // $band_rows) AS bands(band)
"""
FILL_STORIES = """
INSERT INTO article_stories SELECT url, md5(url)[:16] FROM step_articles
"""


def fill_story_tables(con: duckdb.DuckDBPyConnection, n: int) -> None:
    """article_meta, story_signatures, story_bands and article_stories for the ``n`` synthetic
    articles, in steps of about ROWS_PER_STEP band rows, in order of the articles' days."""
    con.execute(sql("warehouse/band_key.sql"))
    bands = STORY_PERMUTATIONS // STORY_BAND_ROWS
    steps = max(1, -(-n * bands // ROWS_PER_STEP))
    inverse = pow(7919, -1, SECONDS)
    for step in range(steps):
        first, last = SECONDS * step // steps, SECONDS * (step + 1) // steps
        con.execute("BEGIN TRANSACTION")
        con.execute(
            STEP_ARTICLES,
            {
                "first": first,
                "last": last,
                "inverse": inverse,
                "seconds": SECONDS,
                "n": n,
                "permutations": STORY_PERMUTATIONS,
            },
        )
        con.execute(FILL_META)
        con.execute(FILL_SIGNATURES)
        con.execute(FILL_BANDS, {"permutations": STORY_PERMUTATIONS, "band_rows": STORY_BAND_ROWS})
        con.execute(FILL_STORIES)
        con.execute("COMMIT")
    con.execute("DROP TABLE step_articles")


def build_warehouse(warehouse: Path, n: int, prefix: str) -> tuple[float, float]:
    """A warehouse of ``n`` synthetic articles (with lineage and source_state); seconds taken
    in all, and by the migration that builds current_versions from articles and lineage (as
    for a warehouse made before that table existed)."""
    started = time.perf_counter()
    prepare_run(warehouse)  # the real tables and views, in the storage format we write
    con = connect(warehouse)
    # Building 10 million keys into the side tables' primary-key indexes at once needs more
    # than a run's memory limit (a run inserts thousands); the build is not what is measured.
    con.execute("SET memory_limit = '8GB'")
    try:
        for lo in range(0, n, ROWS_PER_STEP):
            params = {"lo": lo, "hi": min(n, lo + ROWS_PER_STEP)}
            con.execute("BEGIN TRANSACTION")
            con.execute(FILL_ARTICLES, params)
            con.execute(FILL_LINEAGE, {**params, "run": "synthetic", "prefix": prefix})
            con.execute(FILL_SOURCES, {**params, "run": "synthetic", "prefix": prefix})
            con.execute("COMMIT")
        fill_story_tables(con, n)
        con.execute("DROP TABLE current_versions")
        migrated = time.perf_counter()
        create_tables(con)  # the real migration
        migrated = time.perf_counter() - migrated
        con.execute("CHECKPOINT")
    finally:
        con.close()
    build_search_index(warehouse, n)
    return time.perf_counter() - started, migrated


def build_search_index(warehouse: Path, n: int) -> float:
    """The warehouse's search index, in step as a real warehouse's is (the project's own
    build: every article, state at the last run); seconds taken, printed."""
    started = time.perf_counter()
    result = search_index.build(warehouse)
    seconds = time.perf_counter() - started
    if result.documents != n:
        raise RuntimeError(f"the search index holds {result.documents:,} of {n:,} articles")
    print(f"  search index: {n:,} documents in {seconds:.0f} s ({seconds / n * 1e6:.0f} s/M)")
    return seconds


def check_search_in_step(warehouse: Path) -> None:
    """The run left the search index in step (its update only says so when it fails)."""
    state = search_index.read_state(search_index.search_dir(warehouse))
    if state is None or state["run_id"] != search_index.current_run(warehouse):
        raise RuntimeError(f"the search index of {warehouse} is not in step after the run")


def cached_warehouse(workdir: Path, n: int, prefix: str, into: Path) -> None:
    """A copy of the built warehouse of ``n`` articles in ``into``; built once per workdir
    (remove ``built-N-vK`` to build again: K changes with what the build writes)."""
    built = workdir / f"built-{n}-v{BUILD_VERSION}"
    if not built.exists():
        tmp = built.with_name(built.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        seconds, migrated = build_warehouse(tmp, n, prefix)
        print(f"  {n:,} articles built in {seconds:.0f} s (current_versions: {migrated:.1f} s)")
        tmp.rename(built)
    shutil.copytree(built, into)


# A run's items are a news crawl's: published over the three days after the warehouse's last
# (its synthetic articles end on 2024-12-31), as a daily run brings them. The story match reads
# the bands of those days and of the window around them; a backfill dated over years reads the
# bands of all those years (bench.scale_stories measures both).
NEWS_SPAN_MS = (1_735_689_600_000, 1_735_948_799_999)  # 2025-01-01 .. 2025-01-03, UTC


def write_items(folder: Path, first: int, n: int) -> Path:
    """``n`` generated archived items, numbered from ``first``, dated over NEWS_SPAN_MS
    (cached by the folder's name)."""
    if folder.exists():
        return folder
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    for i in range(first, first + n):
        path = tmp / f"{i // 1000:04d}" / f"{i:07d}-item{ITEM_SUFFIX}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(generated_item(i, span_ms=NEWS_SPAN_MS))
    tmp.rename(folder)
    return folder


def _summary(log: Path) -> dict[str, Any]:
    text = log.read_text(errors="replace")
    start = text.find("\n{")
    try:
        return json.loads(text[start:]) if start >= 0 else {}
    except json.JSONDecodeError:
        return {}


def task_seconds(warehouse: Path, api_url: str) -> dict[str, float]:
    """Durations of the last run's tasks (by name prefix), from the Prefect server."""
    with duckdb.connect(str(warehouse / "articles.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT flow_run_id FROM runs ORDER BY finished_at DESC LIMIT 1"
        ).fetchall()
    os.environ["PREFECT_API_URL"] = api_url
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async def fetch() -> dict[str, float]:
        async with get_client() as client:
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(rows[0][0])]))
            )
        out: dict[str, float] = {}
        for run in runs:
            name = run.name.rsplit("-", 1)[0]
            out[name] = out.get(name, 0.0) + run.total_run_time.total_seconds()
        return out

    return asyncio.run(fetch())


def time_queries(warehouse: Path, url: str) -> dict[str, float]:
    """Seconds of each view, read whole, and of a point lookup by url (best of three)."""
    out: dict[str, float] = {}
    con = connect(warehouse, read_only=True)
    try:
        queries = [(v, f"SELECT * FROM {v}", {}) for v in VIEWS]
        queries.append(("point lookup", "SELECT * FROM articles WHERE url = $url", {"url": url}))
        for name, query, params in queries:
            best = float("inf")
            for _ in range(3):
                started = time.perf_counter()
                con.execute(query, params).fetchall()
                best = min(best, time.perf_counter() - started)
            out[name] = best
    finally:
        con.close()
    return out


def run_stage(
    name: str, cmd: list[str], run_dir: Path, env: dict[str, str], timeout: float = 3600
) -> Stage:
    stage = measure(Stage(name, cmd), run_dir / f"{name}.log", timeout, env, REPO)
    if not stage.ok:
        raise RuntimeError(f"{name} failed: {stage.note}")
    return stage


def measure_size(
    n: int, items: tuple[Path, Path], run_dir: Path, env: dict[str, str], api_url: str
) -> dict[str, float]:
    new, rerun = items
    warehouse = run_dir / f"warehouse-{n}"
    shutil.rmtree(warehouse, ignore_errors=True)
    cached_warehouse(run_dir.parent, n, str(new.parent / "archive") + "/", warehouse)
    ingest = [str(BIN / "article-etl"), "ingest", "--warehouse", str(warehouse), "--json"]
    run_stage(f"setup-{n}", [*ingest, str(rerun)], run_dir, env)
    fresh = run_stage(f"new-{n}", [*ingest, str(new)], run_dir, env)
    check_search_in_step(warehouse)
    tasks = task_seconds(warehouse, api_url)
    lookups = _QUESTIONS.search(fresh.log.read_text(errors="replace")) if fresh.log else None
    again = run_stage(f"unchanged-{n}", [*ingest, str(rerun)], run_dir, env)
    skipped = _summary(again.log)["skipped_unchanged"] if again.log else 0
    if skipped != len(list(rerun.rglob(f"*{ITEM_SUFFIX}"))):
        raise RuntimeError(f"the unchanged re-run skipped {skipped} inputs, not all")
    queries = time_queries(warehouse, f"https://host7.scale.example/a/{n // 2 + 7}")
    maint = [str(BIN / "article-etl"), "maintenance", "--warehouse", str(warehouse)]
    kept = run_stage(f"maintenance-{n}", maint, run_dir, env)
    size = (warehouse / "articles.duckdb").stat().st_size
    total = n + 2 * len(list(new.rglob(f"*{ITEM_SUFFIX}")))  # approximately: + both item sets
    return {
        "new wall s": fresh.wall,
        "new peak RSS MiB": fresh.peak_rss / 2**20,
        "prepare s": tasks.get("prepare-warehouse", 0.0)
        + (float(lookups.group(1)) if lookups else 0.0),
        "load s": tasks.get("load-warehouse", 0.0),
        "unchanged wall s": again.wall,
        "unchanged peak RSS MiB": again.peak_rss / 2**20,
        **{f"{k} s": v for k, v in queries.items()},
        "maintenance wall s": kept.wall,
        "maintenance peak RSS MiB": kept.peak_rss / 2**20,
        "file MiB": size / 2**20,
        "MiB per million articles": size / 2**20 / (total / 1e6),
    }


def report(results: dict[int, dict[str, float]], floor: float) -> None:
    sizes = sorted(results)
    base = results[sizes[0]]
    head = f"{'':28}" + "".join(f"{n:>14,}" for n in sizes)
    ratio_head = "".join(f"{'x' + format(n, ','):>14}" for n in sizes[1:])
    print(f"\n{head}   growth {ratio_head}")
    for key in base:
        cells = "".join(f"{results[n][key]:14.3f}" for n in sizes)
        ratios = "".join(
            f"{results[n][key] / base[key]:14.2f}" if base[key] else f"{'n/a':>14}"
            for n in sizes[1:]
        )
        print(f"{key:28}{cells}          {ratios}")
    print(f"\nPrefect's start-up (a trivial flow on the same server): {floor:.2f} s")
    largest, smallest = results[sizes[-1]], base
    rss = largest["new peak RSS MiB"] / smallest["new peak RSS MiB"] - 1
    work = (largest["prepare s"] + largest["load s"]) - (smallest["prepare s"] + smallest["load s"])
    worst = max(results[n]["unchanged wall s"] for n in sizes)
    print(
        f"the new run into {sizes[-1]:,} vs {sizes[0]:,}: peak RSS {rss:+.1%} (goal within "
        f"15 %), preparation + load {work:+.2f} s (goal within 2 s); unchanged re-run at most "
        f"{worst:.2f} s = start-up + {worst - floor:.2f} s (goal within 2 s)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=",".join(str(n) for n in SIZES))
    parser.add_argument("--new", type=int, default=5000, help="items of the new run")
    parser.add_argument("--rerun", type=int, default=10_000, help="items of the unchanged run")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR / "scale")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    args.workdir.mkdir(parents=True, exist_ok=True)
    run_dir = args.workdir / time.strftime("run-%Y%m%dT%H%M%S")
    run_dir.mkdir()
    items = (
        write_items(args.workdir / f"new-news-{args.new}", 10_000_000, args.new),
        write_items(args.workdir / f"rerun-news-{args.rerun}", 20_000_000, args.rerun),
    )
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "NO_COLOR": "1"}
    env["PREFECT_HOME"] = str(run_dir / "prefect-home")
    server, api_url = _start_server(run_dir, env)
    env["PREFECT_API_URL"] = api_url
    print(f"scale benchmark: sizes {', '.join(f'{n:,}' for n in sizes)}; {run_dir}", flush=True)
    try:
        floor = min(
            run_stage(f"floor-{r}", [sys.executable, "-m", "bench.floor"], run_dir, env).wall
            for r in range(2)
        )
        results = {n: measure_size(n, items, run_dir, env, api_url) for n in sizes}
    finally:
        _kill_group(server.pid)
    report(results, floor)
    return 0


if __name__ == "__main__":
    sys.exit(main())
