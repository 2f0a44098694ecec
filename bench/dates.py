"""Publication dates, page by page: the pipeline beside trafilatura and htmldate.

    .venv/bin/python -m bench.dates [--all] [--verdicts bench/date_verdicts.json]

For every Zyte page (shared/corpus/zyte) and every HTML page we wrote (tests/data, examples/
pages), three dates as YYYY-MM-DD:
  pipeline     flows.transform.article.transform_unit: its timestamp's UTC date and source
  trafilatura  bare_extraction(html, url=..., with_metadata=True).date (default settings)
  htmldate     find_date(html, url=..., extensive_search=True, original_date=True)
Every page where they do not all agree is listed (all pages with --all). A page's date in
UTC can fall on the day after or before its local date; a pipeline time whose local date
(in the page's own offset) equals another tool's date is counted as agreeing, marked "tz".
The verdicts file holds, per page id, the right date read from the page (``null`` when the
page states none) and a note; with it, the summary counts who is right.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
from collections import Counter
from datetime import datetime
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

    from flows.transform.article import transform_unit
    from flows.units import Article, WorkUnit

    page_id, url, html = page
    out: dict[str, object] = {"id": page_id, "url": url}
    outcome = transform_unit(WorkUnit(source=page_id, data=html, url=url))
    if isinstance(outcome, Article):
        ts = outcome.timestamp
        out["pipeline"] = ts.date().isoformat() if ts else None
        out["instant"] = ts.isoformat() if ts else None
        out["local"] = _local_date(html, ts) if ts else None
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


_STAMP = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)")


def _local_date(html: bytes, instant: datetime) -> str | None:
    """The page's own calendar date of ``instant``: the date part of the page's time string
    that denotes it (a page in UTC-5 writes 2019-11-18T20:00-05:00 for 2019-11-19 01:00 UTC)."""
    from flows.transform.dates import parse_iso

    for m in _STAMP.finditer(html.decode("utf-8", "replace")):
        if parse_iso(m.group(0).replace("Z", "+00:00")) == instant:
            return m.group(0)[:10]
    return None


def verdict_counts(rows: list[dict[str, object]], verdicts: dict[str, dict]) -> Counter[str]:
    """Who is right on each page with a verdict (agreeing pages count as both right)."""
    counts: Counter[str] = Counter()
    for row in rows:
        if row["id"] not in verdicts:
            continue
        right = verdicts[row["id"]].get("date")
        pipe_ok = right in (row["pipeline"], row.get("local"))
        traf_ok = row["trafilatura"] == right
        if right is None:
            counts["no date on the page"] += 1
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
        elif row.get("local") == traf:
            kind = "same instant: pipeline's UTC date, trafilatura's local date"
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
            note = f"right: {v.get('date')} ({v.get('note', '')})" if v else "(no verdict)"
            print(
                f"{str(row['id'])[:28]:28} {row['pipeline']!s:10} {row['source']!s:18} "
                f"{traf!s:10} {hd!s:10}  {note}\n{'':28} instant {row.get('instant')}, "
                f"local date {row.get('local')}, {row['url']}"
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
