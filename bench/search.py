"""The search index at scale, and whether it finds the right page.

    python -m bench.search [--n 100000] [--update 10000] [--queries 20] [--workdir DIR]

- build: a warehouse of N articles whose bodies are the real texts of ../shared/corpus (the
  Zyte ground truth and the boilerplate sets' human-made main texts), replicated with
  variations (paragraphs rotated, a few words of other pages mixed in, a unique token, 200
  hosts, timestamps over 2020-2024); the index built from it by ``flows.load.search.index.build``
  (wall and CPU seconds, size on disk);
- queries: QUERIES of each kind (word, phrase, boolean, CJK, a word with a date range and a
  host) through ``flows.load.search.query.search``, the function the command line calls (open the
  index, check it is in step, rank, check every hit against DuckDB, cut snippets): p50/p95;
- update: UPDATE articles changed by one run (new bodies in ``articles``, their lineage, a
  run row), then ``sync``, which applies that run by url as the load does;
- relevance: an index of the real pages alone; for each page, its three rarest terms as a
  query; the page must come first (a page whose exact text is another page's counts as found
  when that copy comes first).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from bench import SHARED
from flows.load.search import index as search_index
from flows.load.search.query import Session, search
from flows.load.search.tokenize import terms
from flows.load.warehouse import connect, prepare_run

CORPUS = SHARED / "corpus"
DEFAULT_WORKDIR = Path("/tmp") / "article-etl-bench-search"
HOSTS = 200
T0 = datetime(2020, 1, 1, tzinfo=UTC)
SPAN_S = 5 * 365 * 86_400
_CJK = (0x3040, 0x30FF), (0x4E00, 0x9FFF)


def real_pages() -> list[tuple[str, str, str]]:
    """(url, title, body) of every real page with a text: Zyte's, then the boilerplate sets'."""
    pages = []
    zyte = json.loads((CORPUS / "zyte" / "ground-truth.json").read_text(encoding="utf-8"))
    for key, item in sorted(zyte.items()):
        body = item["articleBody"].strip()
        if body:
            pages.append((f"https://zyte.bench.example/{key}", _first_line(body), body))
    with open(CORPUS / "boilerplate" / "truth.jsonl", encoding="utf-8") as fh:
        for line in fh:
            item = json.loads(line)
            body = item["body"].strip()
            if body:
                url = f"https://{item['subset']}.bench.example/{item['id']}"
                pages.append((url, item.get("title") or _first_line(body), body))
    return pages


def _first_line(body: str) -> str:
    return body.split("\n", 1)[0][:120]


def _cjk(ch: str) -> bool:
    return any(lo <= ord(ch) <= hi for lo, hi in _CJK)


def variants(pages: list[tuple[str, str, str]], n: int, seed: int = 31) -> Iterator[dict[str, Any]]:
    """N articles from the real pages: each a page's text, varied."""
    rng = random.Random(seed)
    words = [w for _, _, body in pages[:500] for w in body.split()[:50]]
    for i in range(n):
        _, title, body = pages[i % len(pages)]
        paragraphs = body.split("\n")
        k = rng.randrange(len(paragraphs))
        paragraphs = paragraphs[k:] + paragraphs[:k]
        paragraphs.append(" ".join(rng.choice(words) for _ in range(8)) + f" doc{i:07d}")
        yield {
            "url": f"https://host{i % HOSTS}.bench.example/a/{i}",
            "timestamp": T0 + timedelta(seconds=rng.randrange(SPAN_S)),
            "title": f"{title} ({i % 97})",
            "body": "\n".join(paragraphs),
            "image": None,
        }


def _insert(warehouse: Path, rows: list[dict[str, Any]], run_id: str) -> None:
    """Rows into articles (replacing their urls), their lineage and a run row, as a load does."""
    fresh = pa.Table.from_pylist(rows)  # noqa: F841 (DuckDB reads it by its name)
    con = connect(warehouse, memory_mb=1024)
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute("DELETE FROM articles WHERE url IN (SELECT url FROM fresh)")
        con.execute("INSERT INTO articles SELECT url, timestamp, title, body, image FROM fresh")
        con.execute(
            "INSERT INTO lineage (url, source, content_hash, run_id, ingested_at) "
            "SELECT url, url, md5(body), $run, now() FROM fresh",
            {"run": run_id},
        )
        con.execute(
            "INSERT INTO runs VALUES ($run, NULL, now(), now(), 'bench', $n, 0, $n, 0, 0, 0, 0, "
            "1, 0, NULL)",
            {"run": run_id, "n": len(rows)},
        )
        con.execute("COMMIT")
    finally:
        con.close()


def fill(warehouse: Path, articles: Iterator[dict[str, Any]], run_id: str) -> int:
    prepare_run(warehouse)
    count, chunk = 0, []
    for row in articles:
        chunk.append(row)
        if len(chunk) == 20_000:
            _insert(warehouse, chunk, run_id)
            count, chunk = count + len(chunk), []
            run_id += "+"
    if chunk:
        _insert(warehouse, chunk, run_id)
        count += len(chunk)
    return count


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """fn(), its wall seconds and this process's CPU seconds."""
    cpu0, t0 = _cpu(), time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0, _cpu() - cpu0


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def query_sets(
    pages: list[tuple[str, str, str]], k: int, seed: int = 7
) -> dict[str, list[dict[str, Any]]]:
    """K queries of each kind, drawn from the real texts."""
    rng = random.Random(seed)
    latin = [p for p in pages if sum(map(_cjk, p[2][:400])) < 20]
    cjk_pages = [p for p in pages if sum(map(_cjk, p[2][:400])) > 100]

    def words() -> list[str]:
        body = rng.choice(latin)[2]
        return [w for w in (t for t in terms(body)) if len(w) > 3 and not w.isdigit()]

    sets: dict[str, list[dict[str, Any]]] = {"word": [], "phrase": [], "boolean": [], "cjk": []}
    sets["filtered"] = []
    while len(sets["word"]) < k:
        ws = words()
        if len(ws) > 10:
            sets["word"].append({"query": rng.choice(ws)})
            sets["filtered"].append(
                {
                    "query": rng.choice(ws),
                    "since": date(2022, 1, 1),
                    "until": date(2022, 12, 31),
                    "host": f"host{rng.randrange(HOSTS)}.bench.example",
                }
            )
            i = rng.randrange(len(ws) - 2)
            sets["phrase"].append({"query": f'"{ws[i]} {ws[i + 1]}"'})
            a, b, c = rng.sample(ws, 3)
            sets["boolean"].append({"query": f"+{a} +{b} -{c}"})
    while len(sets["cjk"]) < k:
        body = rng.choice(cjk_pages)[2]
        at = rng.randrange(len(body) - 2)
        pair = body[at : at + 2]
        if all(map(_cjk, pair)):
            sets["cjk"].append({"query": pair})
    return sets


def latencies(
    warehouse: Path, sets: dict[str, list[dict[str, Any]]], session: bool
) -> dict[str, str]:
    """p50/p95 of each kind: in one Session (index and connection open), or one ``search``
    call a query (each opens both, as the command line does)."""
    search(warehouse, "warm up")  # the first call maps the index files
    out = {}
    with Session(warehouse) as held:
        for kind, queries in sets.items():
            ms, cpu_ms, found = [], [], 0
            for q in queries:
                options = {k: v for k, v in q.items() if k != "query"}
                t0, c0 = time.perf_counter(), time.process_time()
                if session:
                    hits = held.search(q["query"], 10, **options)
                else:
                    hits = search(warehouse, q["query"], 10, **options)
                ms.append((time.perf_counter() - t0) * 1000)
                cpu_ms.append((time.process_time() - c0) * 1000)
                found += bool(hits)
            # CPU time beside wall time: on a busy machine the wall time is mostly waiting
            out[kind] = (
                f"wall p50 {statistics.median(ms):.1f} p95 {_p95(ms):.1f} ms, "
                f"CPU p50 {statistics.median(cpu_ms):.1f} p95 {_p95(cpu_ms):.1f} ms "
                f"({found}/{len(ms)} with hits)"
            )
    return out


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18]


def relevance(workdir: Path, pages: list[tuple[str, str, str]]) -> tuple[int, int, list[str]]:
    """Pages whose three rarest terms bring them first, of all pages; a few misses."""
    warehouse = workdir / "relevance"
    shutil.rmtree(warehouse, ignore_errors=True)
    rows = [
        {"url": url, "timestamp": T0, "title": title, "body": body, "image": None}
        for url, title, body in pages
    ]
    fill(warehouse, iter(rows), "relevance")
    search_index.build(warehouse)
    df: Counter[str] = Counter()
    page_terms = []
    for _, _, body in pages:
        unique = set(terms(body))
        page_terms.append(unique)
        df.update(unique)
    by_body: dict[str, set[str]] = {}
    for url, _, body in pages:
        by_body.setdefault(body, set()).add(url)
    first, misses = 0, list[str]()
    with Session(warehouse) as session:
        for (url, _, body), unique in zip(pages, page_terms, strict=True):
            rare = sorted(unique, key=lambda t: (df[t], t))[:3]
            hits = session.search(" ".join(rare), 1)
            if hits and hits[0].url in by_body[body]:
                first += 1
            elif len(misses) < 5:
                misses.append(f"{url}: {' '.join(rare)} -> {hits[0].url if hits else 'nothing'}")
    return first, len(pages), misses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--update", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--skip-relevance", action="store_true")
    parser.add_argument("--only-relevance", action="store_true")
    parser.add_argument(
        "--reuse", action="store_true", help="keep the workdir's warehouse and index if built"
    )
    args = parser.parse_args()
    pages = real_pages()
    print(f"real pages with a text: {len(pages)}")
    if not args.only_relevance:
        scale(args, pages)
    if not args.skip_relevance:
        (first, total, misses), wall, _ = timed(lambda: relevance(args.workdir, pages))
        share = f"{first}/{total} ({first / total:.1%})"
        print(f"relevance: {share} pages first for their three rarest terms, {wall:.0f} s")
        for miss in misses:
            print(f"  miss: {miss}")


def scale(args: argparse.Namespace, pages: list[tuple[str, str, str]]) -> None:
    """Build, queries and update at ``--n`` articles."""
    warehouse = args.workdir / f"wh-{args.n}"
    if not (args.reuse and search_index.open_index(warehouse)):
        shutil.rmtree(warehouse, ignore_errors=True)
        _, wall, _ = timed(lambda: fill(warehouse, variants(pages, args.n), "bench-fill"))
        print(f"warehouse of {args.n:,} articles written in {wall:.1f} s (not in the figures)")
        result, wall, cpu = timed(lambda: search_index.build(warehouse))
        size = size_mb(search_index.search_dir(warehouse))
        print(f"build: {result}, {wall:.1f} s wall, {cpu:.1f} s CPU, {size:.0f} MB")
    sets = query_sets(pages, args.queries)
    for session in (True, False):
        how = "in a session" if session else "one search() call each"
        for kind, line in latencies(warehouse, sets, session).items():
            print(f"query {kind:<9} {how}: {line}")
    if not args.update:
        return
    picked = random.Random(5).sample(range(args.n), min(args.update, args.n))
    changed = list(variants(pages, len(picked), seed=99))
    for row, j in zip(changed, picked, strict=True):
        row["url"] = f"https://host{j % HOSTS}.bench.example/a/{j}"
    _insert(warehouse, changed, f"bench-update-{time.time_ns()}")
    result, wall, cpu = timed(lambda: search_index.sync(warehouse))
    print(
        f"update of {len(changed):,} articles by url: {result}, {wall:.1f} s wall, {cpu:.1f} s CPU"
    )


if __name__ == "__main__":
    main()
