"""Story grouping and language, measured on a labelled set built from ../shared/corpus.

    .venv/bin/python -m bench.stories [--bases 150] [--seed 7] [--workdir DIR]

Stories: human article texts of the corpus (Zyte's ground truth, L3S-GN1 and CleanPortalEval
truth: news from Google News 2008 and four portals) become pages. Each base article is
published three times on different sites, each site with its own template (navigation, share
bar, a "related articles" list of other articles' headlines and teasers, footer); the second
and third copies get another headline and 5 to 20 % of their words edited (sentences cut,
sentences added, words replaced). Every site publishes many different articles under the
same template and the same related list, and the base articles include many on the same
topics (Google News clusters of one half-year); 30 follow-ups repeat a paragraph of an earlier
story on its site: the different-story pairs are the hard kind.
The corpus's own duplicate pairs (the same article fetched twice, with different HTML) are
added as they are. The pages go through the real pipeline (discovery, transform_unit in
worker batches, the load into a fresh DuckDB file) in two runs, the first copies then the
later ones, and every pair of loaded articles is scored: precision and recall of "same story".

Language: every Zyte page and every 4th page of boilerplate/, through transform_document and
settle_languages (a batch's language step).
The truth: English for boilerplate/ (English test sets; pages whose truth text is mostly CJK
are left out), and for Zyte the detector's verdict on the human-checked article text (a text
without template). A page "declares correctly" when its own statement (<html lang>, JSON-LD
inLanguage, og:locale, Content-Language) is that language; the target is the share of those
pages whose article_meta.language is right. Pages that declare nothing or something else are
counted apart.

Cost: bench.run's ``side`` stage (the bare pool with the side columns switched off).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import random
import re
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import SHARED

SITES = 6  # each with its own template; a base article runs on three of them
FOLLOW_UPS = 30  # different articles that repeat a paragraph of a base article
_WORDS = re.compile(r"\S+")
_SENTENCES = re.compile(r"(?<=[.!?])\s+")
ADDED = (
    "This article has been updated with additional reporting.",
    "Reporting by our correspondents; editing by the news desk.",
    "The story was first published by a partner agency and is republished with permission.",
    "Readers can contact the newsroom with tips and corrections at any time.",
)


def _bases(shared: Path, n: int, rng: random.Random) -> list[tuple[str, str]]:
    """``(id, text)`` of human article texts of 120 to 1,500 words, mostly English news."""
    found = []
    truth = json.loads((shared / "corpus/zyte/ground-truth.json").read_text(encoding="utf-8"))
    found += [(f"zyte-{k[:12]}", v["articleBody"]) for k, v in sorted(truth.items())]
    with (shared / "corpus/boilerplate/truth.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec["subset"] in ("l3s-gn1", "cleanportaleval"):
                found.append((rec["id"], rec["body"]))
    seen: set[str] = set()
    usable = []
    for key, text in found:
        words = len(_WORDS.findall(text))
        if 120 <= words <= 1500 and text not in seen:
            seen.add(text)
            usable.append((key, text))
    return rng.sample(usable, min(n, len(usable)))


def _edit(text: str, rate: float, rng: random.Random, vocabulary: list[str]) -> str:
    """``text`` with about ``rate`` of its words edited: sentences cut or added, words
    replaced (as subeditors do to a wire story)."""
    sentences = [s for s in _SENTENCES.split(text.replace("\n", " \n ")) if s.strip()]
    total = len(_WORDS.findall(text))
    budget = rate * total
    while budget > 0 and sentences:
        op = rng.random()
        if op < 0.3 and len(sentences) > 3:
            cut = sentences.pop(rng.randrange(1, len(sentences)))
            budget -= len(_WORDS.findall(cut))
        elif op < 0.55:
            added = rng.choice(ADDED)
            sentences.insert(rng.randrange(len(sentences) + 1), added)
            budget -= len(_WORDS.findall(added))
        else:
            i = rng.randrange(len(sentences))
            words = sentences[i].split(" ")
            j = rng.randrange(len(words))
            words[j] = rng.choice(vocabulary)
            sentences[i] = " ".join(words)
            budget -= 1
    return " ".join(sentences)


def _page(site: int, slug: str, title: str, text: str, published: datetime, related: list) -> str:
    """The article inside site ``site``'s template."""
    from html import escape

    paragraphs = "".join(f"<p>{escape(p.strip())}</p>" for p in text.split("\n") if p.strip())
    items = "".join(
        f'<li><a href="/a/{i}">{escape(t)}</a><p>{escape(teaser)}</p></li>'
        for i, (t, teaser) in enumerate(related)
    )
    nav = "".join(f'<a href="/s{site}/{k}">Section {site}-{k}</a>' for k in range(12))
    host = f"site{site}.example"
    return (
        f'<!DOCTYPE html><html lang="en"><head><title>{escape(title)} - Site {site}</title>'
        f'<link rel="canonical" href="https://{host}/news/{slug}">'
        f'<meta property="og:site_name" content="Site {site}">'
        f'<meta property="article:published_time" content="{published.isoformat()}">'
        f'</head><body><header><nav>{nav}</nav></header><main><article class="t{site}">'
        f"<h1>{escape(title)}</h1>{paragraphs}</article>"
        f'<div class="share">Share this story on Facebook, X, LinkedIn or by email '
        f"(template {site})</div>"
        f'<section class="related"><h2>More from Site {site}</h2><ul>{items}</ul></section>'
        f"</main><footer>Site {site} newsroom. Terms, privacy and cookie settings.</footer>"
        "</body></html>"
    )


def build_set(shared: Path, out: Path, n: int, seed: int) -> tuple[dict[str, str], list, list]:
    """Write the pages into ``out``/run1 and ``out``/run2; returns each file's story label."""
    rng = random.Random(seed)
    pool = _bases(shared, n + FOLLOW_UPS, rng)
    bases, fresh = pool[:n], pool[n:]
    vocabulary = [w for _, t in bases[:20] for w in _WORDS.findall(t)]
    headlines = {key: " ".join(_WORDS.findall(text)[:9]) for key, text in bases}
    labels: dict[str, str] = {}
    first_site: dict[str, int] = {}
    rates = []
    start = datetime(2024, 5, 1, tzinfo=UTC)
    for number, (key, text) in enumerate(bases):
        sites = rng.sample(range(SITES), 3)
        first_site[key] = sites[0]
        for copy, site in enumerate(sites):
            rate = 0.0 if copy == 0 else rng.choice((0.05, 0.10, 0.15, 0.20))
            body = text if copy == 0 else _edit(text, rate, rng, vocabulary)
            title = (
                headlines[key]
                if copy == 0
                else f"{rng.choice(('Update:', 'Report:'))} "
                + (" ".join(reversed(headlines[key].split()[:6])))
            )
            others = rng.sample([k for k, _ in bases if k != key], 5)
            related = [(headlines[k], dict(bases)[k][:160]) for k in others]
            slug = f"{number}-{copy}"
            published = start + timedelta(hours=number, minutes=30 * copy)
            run = "run1" if copy < 2 else "run2"
            folder = out / run
            folder.mkdir(parents=True, exist_ok=True)
            page = _page(site, slug, title, body, published, related)
            (folder / f"{slug}.html").write_text(page, encoding="utf-8")
            labels[str(folder / f"{slug}.html")] = key
            rates.append(rate)
    # Follow-ups: another article on the same site that repeats a paragraph of an earlier one
    # as background (a different story that shares text).
    for number, (key, text) in enumerate(fresh):
        base_key, base_text = bases[number]
        paragraphs = [p for p in base_text.split("\n") if p.strip()]
        background = max(paragraphs, key=len)
        title = " ".join(_WORDS.findall(text)[:9])
        published = start + timedelta(hours=number, minutes=50)
        slug = f"follow-{number}"
        page = _page(first_site[base_key], slug, title, f"{text}\n{background}", published, [])
        (out / "run2" / f"{slug}.html").write_text(page, encoding="utf-8")
        labels[str(out / "run2" / f"{slug}.html")] = f"follow-{key}"
    real = _real_duplicates(shared, out / "run2", labels)
    return labels, rates, real


def _real_duplicates(shared: Path, folder: Path, labels: dict[str, str]) -> list[str]:
    """The corpus's own pairs: one article text, two different pages of it."""
    by_text: dict[str, list[dict]] = {}
    with (shared / "corpus/boilerplate/truth.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            by_text.setdefault(rec["body"], []).append(rec)
    pairs = [recs for recs in by_text.values() if len(recs) == 2]
    for recs in pairs:
        for i, rec in enumerate(recs):
            raw = gzip.decompress(
                (shared / "corpus/boilerplate/html" / f"{rec['id']}.html.gz").read_bytes()
            )
            url = f"https://real{i}.example/{rec['id']}"
            # The address goes in the way a browser's "save page" records it.
            head = f"<!-- saved from url=({len(url):04d}){url} -->\n".encode()
            (folder / f"{rec['id']}.html").write_bytes(head + raw)
            labels[str(folder / f"{rec['id']}.html")] = f"real-{recs[0]['id']}"
    return [r["id"] for recs in pairs for r in recs]


def _batch(args: tuple[list[str], str, str]) -> tuple[str | None, dict]:
    from flows.core.units import WorkUnit
    from flows.executors.batch import process_batch

    paths, stage, batch_id = args
    units = [WorkUnit(source=p, path=p, seq=i) for i, p in enumerate(paths)]
    result = process_batch(units, stage, batch_id)
    return result.articles_path, result.reasons


def ingest(warehouse: Path, folder: Path, run_id: str, workers: int) -> dict:
    """The pipeline without Prefect: transform_unit in worker batches, then the load."""
    from flows.load.merge import RunRecord, load_run
    from flows.load.warehouse import prepare_run, staging_dir

    prepare_run(warehouse)
    stage = staging_dir(warehouse, run_id)
    stage.mkdir(parents=True)
    paths = sorted(str(p) for p in folder.glob("*.html"))
    chunks = [paths[i::workers] for i in range(workers)]
    with ProcessPoolExecutor(workers) as pool:
        jobs = [(chunk, str(stage), f"{i:06d}") for i, chunk in enumerate(chunks) if chunk]
        results = list(pool.map(_batch, jobs))
    reasons: Counter = Counter()
    for _, r in results:
        reasons.update(r)
    record = RunRecord(run_id, None, datetime.now(UTC), str(folder), len(paths), 0, len(jobs))
    parts = [p for p, _ in results if p]
    counts, _ = load_run(warehouse, record, parts, [])
    return {"new": counts.new, "rejected": dict(reasons)}


def score_pairs(labels: dict[str, str], stories: dict[str, str]) -> dict[str, float]:
    """Pair precision and recall of the stories against the labels (loaded inputs only)."""
    urls = sorted(u for u in labels if u in stories)
    tp = fp = fn = 0
    for a, b in itertools.combinations(urls, 2):
        truth, said = labels[a] == labels[b], stories[a] == stories[b]
        tp += truth and said
        fp += said and not truth
        fn += truth and not said
    return {
        "articles": len(urls),
        "true_pairs": tp + fn,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "recall": tp / (tp + fn) if tp + fn else 1.0,
        "false_pairs": fp,
        "missed_pairs": fn,
    }


def margins(labels: dict[str, str], signatures: dict[str, list[int]]) -> dict[str, object]:
    """How far the threshold is from both kinds of pair: the estimated similarity of the least
    similar same-story pairs and of the most similar different-story pairs."""
    from flows.transform.signature import similarity

    same, different = [], []
    urls = sorted(u for u in labels if u in signatures)
    for a, b in itertools.combinations(urls, 2):
        value = similarity(signatures[a], signatures[b])
        (same if labels[a] == labels[b] else different).append(value)
    same.sort()
    different.sort(reverse=True)
    return {
        "same_story_lowest": [round(v, 3) for v in same[:5]],
        "different_story_highest": [round(v, 3) for v in different[:5]],
    }


def _language_page(args: tuple[str, str | None]) -> tuple[str, str | None, str | None]:
    """``(id, declared, chosen)`` for one corpus page through transform_document and its
    batch's language step."""
    from flows.core.units import Article, WorkUnit
    from flows.transform.about import read_about, settle_languages
    from flows.transform.article import parse_html, transform_document
    from flows.transform.decode import decode_html

    path, url = args
    raw = gzip.decompress(Path(path).read_bytes())
    article = transform_document(WorkUnit(source=path, url=url or "https://x.example/p"), raw)
    if not isinstance(article, Article):
        return path, None, None
    settle_languages([article])
    try:
        declared = read_about(parse_html(decode_html(raw, None)[0]), {}, {}).language
    except Exception:  # a page the transform read but this second look cannot: no statement
        declared = None
    return path, declared, article.language


def languages(shared: Path, workers: int) -> dict[str, object]:
    """Language accuracy on the corpus pages whose language is known (see the docstring)."""
    from flows.transform.about import detect_language

    corpus = shared / "corpus"
    truth: dict[str, str] = {}
    jobs = []
    zyte = json.loads((corpus / "zyte/ground-truth.json").read_text(encoding="utf-8"))
    for key, rec in zyte.items():
        code, _ = detect_language(rec["articleBody"])
        if code:
            path = str(corpus / "zyte/html" / f"{key}.html.gz")
            truth[path] = code
            jobs.append((path, rec.get("url")))
    with (corpus / "boilerplate/truth.jsonl").open(encoding="utf-8") as fh:
        for number, line in enumerate(fh):
            rec = json.loads(line)
            cjk = sum(1 for c in rec["body"] if ord(c) >= 0x2E80)
            if number % 4 or cjk > len(rec["body"]) / 10:
                continue
            path = str(corpus / "boilerplate/html" / f"{rec['id']}.html.gz")
            truth[path] = "en"
            jobs.append((path, rec.get("url")))
    with ProcessPoolExecutor(workers) as pool:
        outcomes = list(pool.map(_language_page, jobs, chunksize=8))
    groups: dict[str, list[bool]] = {"declares correctly": [], "declares another": [], "none": []}
    wrong = Counter()
    for path, declared, chosen in outcomes:
        if chosen is None and declared is None:
            continue  # no article (rejected): no language to score
        group = (
            "none"
            if declared is None
            else ("declares correctly" if declared == truth[path] else "declares another")
        )
        groups[group].append(chosen == truth[path])
        if chosen != truth[path]:
            wrong[f"{truth[path]}->{chosen}"] += 1
    return {
        name: f"{sum(v)}/{len(v)} right ({100 * sum(v) / len(v):.1f} %)" if v else "0 pages"
        for name, v in groups.items()
    } | {"wrong": dict(wrong.most_common(8))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bases", type=int, default=150)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--skip-language", action="store_true")
    args = parser.parse_args()
    from flows.core.settings import STORY_PERMUTATIONS, STORY_SHINGLE_WORDS, STORY_THRESHOLD
    from flows.load.warehouse import connect

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        labels, rates, real = build_set(args.shared, work / "pages", args.bases, args.seed)
        print(
            f"labelled set: {len(labels)} pages, {len(set(labels.values()))} stories "
            f"({len(real)} pages of the corpus's own duplicate pairs, {FOLLOW_UPS} follow-ups "
            f"repeating a paragraph of another story); edit rates "
            f"{dict(sorted(Counter(rates).items()))}"
        )
        print(
            f"settings: {STORY_SHINGLE_WORDS}-word shingles, {STORY_PERMUTATIONS} permutations, "
            f"threshold {STORY_THRESHOLD}"
        )
        warehouse = work / "warehouse"
        for run in ("run1", "run2"):
            started = time.perf_counter()
            counts = ingest(warehouse, work / "pages" / run, run, args.workers)
            print(f"{run}: {counts} in {time.perf_counter() - started:.1f} s")
        con = connect(warehouse, read_only=True)
        try:
            # Scored by input file: a page's url is whatever its own canonical link says.
            stories = dict(
                con.execute(
                    "SELECT lineage.source, story_id FROM article_stories JOIN lineage USING (url)"
                ).fetchall()
            )
            signatures = dict(
                con.execute(
                    "SELECT lineage.source, minhash FROM story_signatures JOIN lineage USING (url)"
                ).fetchall()
            )
        finally:
            con.close()
        print("story pairs:", json.dumps(score_pairs(labels, stories)))
        print("similarity:", json.dumps(margins(labels, signatures)))
    if not args.skip_language:
        print("language:", json.dumps(languages(args.shared, args.workers)))


if __name__ == "__main__":
    main()
