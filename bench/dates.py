"""Publication dates, page by page: the pipeline beside trafilatura and htmldate.

    .venv/bin/python -m bench.dates [--all] [--verdicts bench/date_verdicts.json]

For every Zyte page (shared/corpus/zyte) and every HTML page we wrote (tests/data, examples/
pages), three dates as YYYY-MM-DD:
  pipeline     flows.executors.batch.transform_unit: its timestamp's UTC date and source
  trafilatura  bare_extraction(html, url=..., with_metadata=True).date (default settings)
  htmldate     find_date(html, url=..., extensive_search=True, original_date=True)
Every page where they do not all agree is listed (all pages with --all). The pipeline keeps
the instant in UTC, which can fall on the day after or before the page's local date: a
tool's date that is the pipeline's instant in some time zone counts as the same instant.
The verdicts file (bench/date_verdicts.json) holds, per disputed page, the dates of the true
instant read from the page (``[null]`` when it states none) and a note; with it, the summary
counts who is right on those pages.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from bench import SHARED
from bench.score import zyte_pages

REPO = Path(__file__).resolve().parents[1]
OWN_PAGES = (REPO / "tests" / "data", REPO / "examples" / "pages")
DEFAULT_VERDICTS = Path(__file__).with_name("date_verdicts.json")


def _own_pages() -> list[tuple[str, str | None, bytes]]:
    pages = []
    for folder in OWN_PAGES:
        for path in sorted(folder.iterdir()):
            if ".htm" in path.name:
                data = path.read_bytes()
                if path.suffix == ".gz":
                    import gzip

                    data = gzip.decompress(data)
                pages.append((f"{folder.name}/{path.name}", None, data))
    return pages


def dates_of(page: tuple[str, str | None, bytes]) -> dict[str, object]:
    """The three dates of one page (run in a worker process)."""
    import trafilatura
    from htmldate import find_date

    from flows.core.units import Article, WorkUnit
    from flows.executors.batch import transform_unit

    page_id, url, html = page
    out: dict[str, object] = {"id": page_id, "url": url}
    outcome = transform_unit(WorkUnit(source=page_id, data=html, url=url))
    if isinstance(outcome, Article):
        ts = outcome.timestamp
        out["pipeline"] = ts.date().isoformat() if ts else None
        out["instant"] = ts.isoformat() if ts else None
        out["source"] = outcome.timestamp_source
        out["url"] = url or outcome.url
    else:
        out["pipeline"], out["source"] = None, f"reject:{outcome.reason}"
    try:
        doc = trafilatura.bare_extraction(html, url=url, with_metadata=True)
        out["trafilatura"] = doc.date if doc is not None else None
    except Exception as exc:  # a tool's failure is a row of the report, not the end of it
        out["trafilatura"] = f"error: {type(exc).__name__}"
    try:
        out["htmldate"] = find_date(html, url=url, extensive_search=True, original_date=True)
    except Exception as exc:
        out["htmldate"] = f"error: {type(exc).__name__}"
    return out


_TIMED_SOURCES = ("jsonld", "meta", "time", "feed", "header")


def zone_dates(row: dict[str, object]) -> set[str]:
    """Calendar dates of the pipeline's instant in every time zone (UTC-12 to UTC+14): a
    tool that reports the page's local date of the same instant agrees with it."""
    instant = row.get("instant")
    if not isinstance(instant, str) or row.get("source") not in _TIMED_SOURCES:
        return {row["pipeline"]} if isinstance(row["pipeline"], str) else set()
    t = datetime.fromisoformat(instant)
    return {(t + timedelta(hours=h)).date().isoformat() for h in (-12, 0, 14)}


def verdict_counts(rows: list[dict[str, object]], verdicts: dict[str, dict]) -> Counter[str]:
    """Who is right on each page with a verdict (agreeing pages count as both right)."""
    counts: Counter[str] = Counter()
    for row in rows:
        if row["id"] not in verdicts:
            continue
        right = verdicts[row["id"]].get("right") or [None]  # dates of the true instant
        pipe_ok = row["pipeline"] in right
        traf_ok = row["trafilatura"] in right
        if right == [None]:
            counts["(of which: no date on the page)"] += 1
        counts[
            {
                (True, True): "both right",
                (True, False): "pipeline right, trafilatura wrong or missing",
                (False, True): "trafilatura right, pipeline wrong or missing",
                (False, False): "both wrong or missing",
            }[(pipe_ok, traf_ok)]
        ] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--all", action="store_true", help="list every page, not only disputes")
    parser.add_argument("--verdicts", type=Path, default=DEFAULT_VERDICTS)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, help="also write every row here")
    args = parser.parse_args()

    pages = [(pid, url, html) for pid, url, html, _ in zyte_pages(args.shared)] + _own_pages()
    with mp.get_context("spawn").Pool(args.workers) as pool:
        rows = pool.map(dates_of, pages, chunksize=4)
    verdicts = json.loads(args.verdicts.read_text("utf-8")) if args.verdicts.exists() else {}

    kinds: Counter[str] = Counter()
    print(f"{'page':28} {'pipeline':10} {'source':18} {'trafilat.':10} {'htmldate':10}  verdict")
    for row in rows:
        traf, hd = row["trafilatura"], row["htmldate"]
        if row["pipeline"] == traf == hd:
            kind = "all three agree"
        elif row["pipeline"] == traf:
            kind = "pipeline = trafilatura"
        elif traf in zone_dates(row):
            kind = "same instant: pipeline's UTC date, trafilatura's date in the page's zone"
        elif row["pipeline"] is None and traf is None:
            kind = "pipeline and trafilatura both without a date"
        elif row["pipeline"] is None:
            kind = "pipeline without a date, trafilatura with one"
        elif traf is None:
            kind = "pipeline with a date, trafilatura without one"
        else:
            kind = "pipeline and trafilatura differ"
        kinds[kind] += 1
        if args.all or kind != "all three agree":
            v = verdicts.get(str(row["id"]), {})
            note = f"right: {v.get('right')}: {v.get('note', '')}" if v else "(no verdict)"
            print(
                f"{str(row['id'])[:28]:28} {row['pipeline']!s:10} {row['source']!s:18} "
                f"{traf!s:10} {hd!s:10}\n{'':28} instant {row.get('instant')}, {row['url']}"
                f"\n{'':28} {note}"
            )
    print(f"\n{len(rows)} pages:")
    for kind, n in kinds.most_common():
        print(f"  {n:4}  {kind}")
    if verdicts:
        print("on pages with a verdict (read from the page):")
        for kind, n in verdict_counts(rows, verdicts).most_common():
            print(f"  {n:4}  {kind}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, ensure_ascii=False), "utf-8")


if __name__ == "__main__":
    main()
