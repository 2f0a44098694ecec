"""The story match as the warehouse grows: the load's merge and side tables of one run of
5,000 staged articles into copies of bench.scale's built warehouses, timed apart.

    python -m bench.scale_stories [--sizes 10000,1000000] [--new 5000]

Two runs per size, each staged first, then loaded in a process of its own (its peak RSS is
that process's):

- spread: the articles dated over 2020-2024, like bench.scale's generated items: every day of
  the warehouse lies within the window of some article of the run, so the bands of all of it
  are read (the cost grows with the warehouse);
- news: the articles of three days, as a news crawl brings them: the bands of those days and
  the window around them are read, whatever the warehouse's size.

In both, a tenth of the articles are copies (the same signature) of synthetic articles of the
warehouse published a day before: each must join that article's story, and every other
article must start its own (checked). The load's statements run as in flows.load.merge
(MERGE_STEPS, then load_side_tables) in one transaction, without the search index's update.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from bench.run import DEFAULT_WORKDIR
from bench.scale import SECONDS, cached_warehouse
from flows.core.schema import STAGING_SCHEMA
from flows.core.settings import STORY_PERMUTATIONS
from flows.load.merge import MERGE_STEPS, run_by_keys, run_sql
from flows.load.stories import load_side_tables
from flows.load.warehouse import connect, create_tables

EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
NEWS_DAYS = 3


ORIGINALS = (
    "SELECT s.url, s.minhash, a.timestamp, t.story_id FROM story_signatures s "
    "JOIN articles a ON a.url = s.url JOIN article_stories t ON t.url = s.url "
)


def staged(warehouse: Path, n: int, new: int, case: str) -> tuple[Path, dict[str, str]]:
    """A staging part of ``new`` articles; returns it and the copies' expected stories."""
    rng = random.Random(f"scale-stories:{case}")
    con = connect(warehouse, read_only=True)
    try:
        newest = con.execute("SELECT max(timestamp) FROM articles").fetchall()[0][0]
        since = newest - timedelta(days=NEWS_DAYS)
        if case == "news":  # copies of the warehouse's last days' articles
            query = ORIGINALS + "WHERE a.timestamp > $since ORDER BY s.url LIMIT $copies"
            params: dict[str, Any] = {"since": since, "copies": new // 10}
        else:
            picks = [rng.randrange(n) for _ in range(new // 10)]
            query = ORIGINALS + "WHERE s.url IN $urls ORDER BY s.url"
            params = {"urls": [f"https://host{i % 500}.scale.example/a/{i}" for i in picks]}
        originals = con.execute(query, params).fetchall()
    finally:
        con.close()
    rows, expected = [], {}
    for k in range(new):
        url = f"https://copies.scale.example/{case}/{k}"
        if k < len(originals):
            _, minhash, stamp, story = originals[k]
            when = stamp + timedelta(days=1)
            expected[url] = story
        else:
            minhash = [rng.getrandbits(32) for _ in range(STORY_PERMUTATIONS)]
            if case == "spread":
                when = EPOCH + timedelta(seconds=rng.randrange(SECONDS))
            else:
                when = since + timedelta(seconds=rng.randrange((NEWS_DAYS + 1) * 86_400))
        rows.append(
            {
                "url": url,
                "timestamp": when,
                "title": f"Staged {k}",
                "body": f"Staged body {k}",
                "image": None,
                "source": f"/staged/{case}/{k}",
                "content_hash": f"{k:032x}",
                "seq": k,
                "language": "en",
                "word_count": 3,
                "minhash": minhash,
            }
        )
    part = warehouse / f"staged-{case}.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=STAGING_SCHEMA), part)
    part.with_suffix(".json").write_text(json.dumps(expected), encoding="utf-8")
    return part, expected


def peak_rss_mib() -> float:
    """This process's peak RSS (VmHWM: getrusage's maximum is kept across the exec, so a
    child would report its parent's)."""
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one(warehouse: Path, new: int, case: str) -> dict[str, Any]:
    """The run ``case`` staged in ``warehouse`` (a copy, changed): seconds of each part."""
    part = warehouse / f"staged-{case}.parquet"
    expected = json.loads(part.with_suffix(".json").read_text(encoding="utf-8"))
    con = connect(warehouse)
    try:
        started = time.perf_counter()
        create_tables(con)
        prepared = time.perf_counter()
        con.execute("BEGIN TRANSACTION")
        params = {
            "run_id": f"staged-{case}",
            "version": "bench",
            "now": datetime.now(UTC),
            "started_at": datetime.now(UTC),
            "parts": [str(part)],
        }
        for step, kind, keys in MERGE_STEPS:
            if kind not in (None, "articles"):
                continue
            if keys is None:
                run_sql(con, f"load/{step}.sql", params)
            else:
                run_by_keys(con, f"load/{step}.sql", f"load/{keys}.sql", params)
        merged = time.perf_counter()
        load_side_tables(con, [str(part)], date(2025, 1, 1))
        sides = time.perf_counter()
        con.execute("COMMIT")
        committed = time.perf_counter()
        stories = dict(
            con.execute(
                "SELECT url, story_id FROM article_stories WHERE url IN $urls",
                {"urls": [f"https://copies.scale.example/{case}/{k}" for k in range(new)]},
            ).fetchall()
        )
    finally:
        con.close()
    joined = sum(stories.get(url) == story for url, story in expected.items())
    alone = len(set(stories.values()) - set(expected.values()))
    if joined != len(expected) or alone != new - len(expected):
        raise RuntimeError(f"{case}: {joined}/{len(expected)} copies joined, {alone} alone")
    return {
        "create_tables s": prepared - started,
        "merge s": merged - prepared,
        "side tables s": sides - merged,
        "commit s": committed - sides,
        "peak RSS MiB": peak_rss_mib(),
        "copies joined": joined,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--new", type=int, default=5000)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR / "scale")
    parser.add_argument("--one", nargs=2, metavar=("WAREHOUSE", "CASE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        warehouse, case = args.one
        print(json.dumps(one(Path(warehouse), args.new, case)))
        return 0
    sizes = sorted(int(s) for s in args.sizes.split(","))
    args.workdir.mkdir(parents=True, exist_ok=True)
    results: dict[tuple[int, str], dict[str, Any]] = {}
    for n in sizes:
        for case in ("spread", "news"):
            into = args.workdir / f"stories-{n}-{case}"
            shutil.rmtree(into, ignore_errors=True)
            # the prefix bench.scale builds with (a cached build is shared)
            cached_warehouse(args.workdir, n, str(args.workdir / "archive") + "/", into)
            staged(into, n, args.new, case)  # here: its reads are not the load's memory
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.scale_stories",
                    "--new",
                    str(args.new),
                    "--one",
                    str(into),
                    case,
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            results[(n, case)] = json.loads(out.strip().splitlines()[-1])
            shutil.rmtree(into, ignore_errors=True)
            print(f"{n:>12,} {case:7} {json.dumps(results[(n, case)])}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
