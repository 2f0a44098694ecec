"""The pipeline's transform beside trafilatura's defaults, page by page, on every corpus page.

    .venv/bin/python -m bench.paired [--subsets zyte,dragnet,...] [--rounds 1] [--workers N]
                                     [--pages bench/work/paired.jsonl] [--list 40]

For every page of shared/corpus/zyte and shared/corpus/boilerplate (2,984 pages, six subsets),
on the same bytes:
  trafilatura  bare_extraction(html, url=..., with_metadata=True): body, title and date with
               the library's defaults, as a user of it gets them
  pipeline     flows.executors.batch.transform_unit: the whole per-page transform
The report gives, per subset and overall: body F1 (bench/score.py: mean precision and recall
of 4-token shingles), the pages we reject that trafilatura extracts (250+ characters), titles
against the truth where a subset has one, and every page where we are 0.1 F1 or more worse,
grouped by cause. Dates: the pages whose date is known (Zyte pages and the HTML pages we
wrote, with the verdicts in bench/date_verdicts.json where the tools disagree), against
trafilatura's date and htmldate's extensive search. Throughput: both calls over all cores on
the same pages, alternating, wall time of each round (pool start-up excluded).

Dragnet gives no URL: the pipeline is then given a placeholder address (as a user adds a
`saved from url=` line), trafilatura none, as in the corpus README's call.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing as mp
import os
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import SHARED
from bench.dates import DEFAULT_VERDICTS, _own_pages
from bench.score import score, score_page, zyte_pages

# A body of this many characters is an article the pipeline must not lose.
KEPT_CHARS = 250
WORSE_BY = 0.1  # a page counts as worse (or better) past this F1 difference
PLACEHOLDER = "https://corpus.invalid/{}"


def corpus_pages(shared: Path, subsets: set[str] | None) -> Iterator[dict[str, Any]]:
    """Every page as ``{id, subset, url, html, body, title}``; ``title`` None where unknown."""
    if subsets is None or "zyte" in subsets:
        for page_id, url, html, body in zyte_pages(shared):
            yield {
                "id": f"zyte-{page_id[:12]}",
                "subset": "zyte",
                "url": url,
                "html": html,
                "body": body,
                "title": None,
            }
    root = shared / "corpus" / "boilerplate"
    with (root / "truth.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            if subsets is not None and row["subset"] not in subsets:
                continue
            html = gzip.decompress((root / "html" / f"{row['id']}.html.gz").read_bytes())
            yield {
                "id": row["id"],
                "subset": row["subset"],
                "url": row.get("url"),
                "html": html,
                "body": row["body"],
                "title": row.get("title"),
            }


def _day(value: object) -> str | None:
    return value.date().isoformat() if hasattr(value, "date") and value is not None else None


def trafilatura_page(page: dict[str, Any]) -> dict[str, Any]:
    """trafilatura's defaults on one page: body, title, date and the CPU seconds it took."""
    import trafilatura

    started = time.process_time()
    try:
        doc = trafilatura.bare_extraction(page["html"], url=page["url"], with_metadata=True)
    except Exception as exc:  # a tool's failure is a row of the report, not the end of it
        return {
            "text": None,
            "title": None,
            "date": None,
            "error": type(exc).__name__,
            "cpu": time.process_time() - started,
        }
    return {
        "text": doc.text if doc is not None else None,
        "title": doc.title if doc is not None else None,
        "date": doc.date if doc is not None else None,
        "cpu": time.process_time() - started,
    }


def pipeline_page(page: dict[str, Any]) -> dict[str, Any]:
    """The pipeline's transform of one page, as the workers run it."""
    from flows.core.units import Article, WorkUnit
    from flows.executors.batch import transform_unit

    url = page["url"] or PLACEHOLDER.format(page["id"])
    started = time.process_time()
    outcome = transform_unit(WorkUnit(source=page["id"], data=page["html"], url=url))
    cpu = time.process_time() - started
    if isinstance(outcome, Article):
        return {
            "text": outcome.body,
            "title": outcome.title,
            "date": _day(outcome.timestamp),
            "title_source": outcome.title_source,
            "date_source": outcome.timestamp_source,
            "cpu": cpu,
        }
    return {
        "text": None,
        "title": None,
        "date": None,
        "reject": str(outcome.reason),
        "detail": outcome.detail,
        "cpu": cpu,
    }


def htmldate_page(page: dict[str, Any]) -> str | None:
    from htmldate import find_date

    try:
        return find_date(page["html"], url=page["url"], extensive_search=True, original_date=True)
    except Exception as exc:
        return f"error: {type(exc).__name__}"


def both(page: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": page["id"],
        "trafilatura": trafilatura_page(page),
        "pipeline": pipeline_page(page),
    }


def _warm(_: int) -> None:
    import trafilatura  # noqa: F401

    import flows.transform.article  # noqa: F401


def _timed_round(pool: Any, fn: Any, pages: list[dict[str, Any]]) -> tuple[list[Any], float]:
    started = time.perf_counter()
    out = pool.map(fn, pages, chunksize=4)
    return out, time.perf_counter() - started


def _norm_title(title: str | None) -> str:
    return " ".join((title or "").casefold().split())


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _cause(row: dict[str, Any]) -> str:
    """Why the pipeline's body scores below trafilatura's on this page."""
    pipe, traf = row["pipeline"], row["trafilatura"]
    if pipe.get("reject"):
        return f"rejected {pipe['reject']}"
    if row["p_recall"] < row["t_recall"] - WORSE_BY / 2:
        return "text lost (lower recall)"
    if row["p_precision"] < row["t_precision"] - WORSE_BY / 2:
        return "boilerplate kept (lower precision)"
    return "both a little worse" if traf["text"] else "other"


def report(pages: list[dict[str, Any]], rows: list[dict[str, Any]], listed: int) -> list[str]:
    out: list[str] = []
    by_subset: dict[str, list[int]] = defaultdict(list)
    for i, page in enumerate(pages):
        by_subset[page["subset"]].append(i)
        truth = page["body"]
        t = score_page(rows[i]["trafilatura"]["text"], truth)
        p = score_page(rows[i]["pipeline"]["text"], truth)
        rows[i].update(
            subset=page["subset"],
            t_precision=t.precision,
            t_recall=t.recall,
            p_precision=p.precision,
            p_recall=p.recall,
            t_f1=_f1(*t),
            p_f1=_f1(*p),
        )

    out.append(
        f"{'subset':16} {'pages':>5}  {'trafilatura F1':>14} {'pipeline F1':>11}  "
        f"{'diff':>6}  {'worse':>5} {'better':>6}  {'no text t/p':>11}"
    )
    groups = [*sorted(by_subset.items()), ("overall", list(range(len(pages))))]
    for name, idx in groups:
        traf = score((rows[i]["trafilatura"]["text"], pages[i]["body"]) for i in idx)
        pipe = score((rows[i]["pipeline"]["text"], pages[i]["body"]) for i in idx)
        worse = sum(rows[i]["p_f1"] < rows[i]["t_f1"] - WORSE_BY for i in idx)
        better = sum(rows[i]["p_f1"] > rows[i]["t_f1"] + WORSE_BY for i in idx)
        t_none = sum(not rows[i]["trafilatura"]["text"] for i in idx)
        p_none = sum(not rows[i]["pipeline"]["text"] for i in idx)
        out.append(
            f"{name:16} {len(idx):5}  {traf.f1:14.3f} {pipe.f1:11.3f}  "
            f"{pipe.f1 - traf.f1:+6.3f}  {worse:5} {better:6}  {t_none:5}/{p_none:<5}"
        )

    lost = [
        r
        for r in rows
        if r["pipeline"].get("reject") and len(r["trafilatura"]["text"] or "") >= KEPT_CHARS
    ]
    rejected = Counter(r["pipeline"]["reject"] for r in rows if r["pipeline"].get("reject"))
    out.append("")
    out.append(f"pipeline rejects: {sum(rejected.values())} ({dict(rejected.most_common())})")
    out.append(
        f"pages we reject where trafilatura's defaults extract {KEPT_CHARS}+ characters: "
        f"{len(lost)}"
    )
    for r in lost[:listed]:
        out.append(
            f"  {r['id']:28} {r['pipeline']['reject']}: {r['pipeline']['detail'][:80]}"
            f" (trafilatura: {len(r['trafilatura']['text'])} chars)"
        )

    titled = [(i, p) for i, p in enumerate(pages) if p["title"]]
    if titled:
        t_ok = sum(
            _norm_title(rows[i]["trafilatura"]["title"]) == _norm_title(p["title"])
            for i, p in titled
        )
        p_ok = sum(
            _norm_title(rows[i]["pipeline"]["title"]) == _norm_title(p["title"]) for i, p in titled
        )
        out.append("")
        out.append(
            f"titles exactly as the truth (case and spaces aside), {len(titled)} pages "
            f"with one: trafilatura {t_ok}, pipeline {p_ok}"
        )
    sources = Counter(r["pipeline"].get("title_source") for r in rows if r["pipeline"]["text"])
    out.append(f"pipeline title sources: {dict(sources.most_common())}")

    worse_rows = [r for r in rows if r["p_f1"] < r["t_f1"] - WORSE_BY]
    causes = Counter(_cause(r) for r in worse_rows)
    out.append("")
    out.append(
        f"pages where the pipeline's body F1 is {WORSE_BY} or more below trafilatura's: "
        f"{len(worse_rows)}, by cause: {dict(causes.most_common())}"
    )
    for r in sorted(worse_rows, key=lambda r: r["p_f1"] - r["t_f1"])[:listed]:
        out.append(f"  {r['id']:28} {r['p_f1']:.2f} vs {r['t_f1']:.2f}  {_cause(r)}")
    return out


def date_report(rows: list[dict[str, Any]], verdicts: dict[str, dict]) -> list[str]:
    """Who is right on pages whose date is known: the three tools agree, or a verdict says."""
    counts: Counter[str] = Counter()
    wrong: list[str] = []
    unjudged: list[str] = []
    for row in rows:
        pipe, traf, hd = row["pipeline"], row["trafilatura"], row["htmldate"]
        if pipe == traf == hd:
            counts["all three agree"] += 1
            continue
        verdict = verdicts.get(row["key"])
        if verdict is None:
            if pipe in (traf, hd):
                counts["pipeline agrees with one tool, no verdict"] += 1
            else:
                unjudged.append(
                    f"  {row['id'][:40]:40} pipeline {pipe} ({row['source']}), "
                    f"trafilatura {traf}, htmldate {hd}"
                )
            continue
        right = verdict.get("right") or [None]
        ok = {"pipeline": pipe in right, "trafilatura": traf in right, "htmldate": hd in right}
        if not ok["pipeline"] and (ok["trafilatura"] or ok["htmldate"]):
            wrong.append(
                f"  {row['id'][:40]:40} pipeline {pipe}, trafilatura {traf}, "
                f"htmldate {hd}; right {right}"
            )
        counts["with a verdict: pipeline " + ("right" if ok["pipeline"] else "wrong")] += 1
    out = [
        f"dates on {len(rows)} pages: {dict(counts.most_common())}",
        f"pages where trafilatura's or htmldate's day is right and ours is wrong: {len(wrong)}",
        *wrong,
    ]
    if unjudged:
        out += [
            f"disputed pages without a verdict (add one to {DEFAULT_VERDICTS.name}): "
            f"{len(unjudged)}",
            *unjudged,
        ]
    return out


def dates_of(page: dict[str, Any]) -> dict[str, Any]:
    traf = trafilatura_page(page)
    pipe = pipeline_page(page)
    return {
        "id": page["id"],
        "key": page["key"],
        "pipeline": pipe["date"],
        "source": pipe.get("date_source") or pipe.get("reject"),
        "trafilatura": traf["date"],
        "htmldate": htmldate_page(page),
    }


def date_pages(shared: Path) -> list[dict[str, Any]]:
    """Pages with a known date: the Zyte pages and the HTML pages we wrote."""
    pages = [
        {"id": f"zyte-{pid[:12]}", "key": pid, "url": url, "html": html}
        for pid, url, html, _ in zyte_pages(shared)
    ]
    pages += [{"id": pid, "key": pid, "url": url, "html": html} for pid, url, html in _own_pages()]
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--subsets", help="comma-separated (zyte, cleaneval-dev, ...): all")
    parser.add_argument("--rounds", type=int, default=1, help="throughput rounds (0: none)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--pages", type=Path, help="also write every page's row here (JSONL)")
    parser.add_argument("--list", type=int, default=40, help="pages listed per finding")
    parser.add_argument("--no-dates", action="store_true", help="skip the date comparison")
    args = parser.parse_args()

    subsets = set(args.subsets.split(",")) if args.subsets else None
    pages = list(corpus_pages(args.shared, subsets))
    print(f"{len(pages)} pages, {args.workers} workers")
    ctx = mp.get_context("spawn")
    with ctx.Pool(args.workers) as pool:
        pool.map(_warm, range(args.workers * 4))
        rows = pool.map(both, pages, chunksize=4)
        walls: dict[str, list[float]] = {"trafilatura": [], "pipeline": []}
        for r in range(args.rounds):
            order = [("trafilatura", trafilatura_page), ("pipeline", pipeline_page)]
            for name, fn in order if r % 2 == 0 else order[::-1]:
                walls[name].append(_timed_round(pool, fn, pages)[1])
        dated = [] if args.no_dates else pool.map(dates_of, date_pages(args.shared), chunksize=4)

    for line in report(pages, rows, args.list):
        print(line)
    cpu_t = sum(r["trafilatura"]["cpu"] for r in rows)
    cpu_p = sum(r["pipeline"]["cpu"] for r in rows)
    print("")
    print(
        f"CPU seconds, one call per page: trafilatura {cpu_t:.1f}, pipeline {cpu_p:.1f} "
        f"(pipeline / trafilatura throughput {cpu_t / cpu_p:.2f}x)"
    )
    if args.rounds:
        ratios = [t / p for t, p in zip(walls["trafilatura"], walls["pipeline"], strict=True)]
        print(
            f"throughput over {args.workers} workers, round by round (wall s trafilatura / "
            f"pipeline): "
            + ", ".join(
                f"{t:.1f}/{p:.1f} = {t / p:.2f}x"
                for t, p in zip(walls["trafilatura"], walls["pipeline"], strict=True)
            )
            + f"; median {statistics.median(ratios):.2f}x"
        )
    if dated:
        verdicts = json.loads(DEFAULT_VERDICTS.read_text("utf-8"))
        print("")
        for line in date_report(dated, verdicts):
            print(line)
    if args.pages:
        args.pages.parent.mkdir(parents=True, exist_ok=True)
        with args.pages.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
