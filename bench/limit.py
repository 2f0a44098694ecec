"""The "limit": the pipeline's trafilatura call over all cores, nothing else.

    .venv/bin/python -m bench.limit CORPUS [--workers N] [--chunksize 32] [--texts OUT.jsonl]
                                           [--with-metadata | --transform [--side-off]]

Each worker reads a file from disk and calls ``trafilatura.bare_extraction(html_bytes, url=...,
**TRAFILATURA_OPTIONS)``; archived items are fed their body HTML (after the header). Prints one
JSON line with counts and the extraction time (pool start-up included, interpreter start not).
With --with-metadata the call is trafilatura's own default with metadata instead
(``bare_extraction(html, url=..., with_metadata=True)``): what a user of the library runs.
With --transform each worker runs the pipeline's whole per-input function instead
(``transform_unit``: read, decode, metadata, dates, trafilatura), with no Prefect, no
staging files and no DuckDB: the same work in a bare process pool, which is what the
pipeline's orchestration is measured against. With --side-off as well, each worker switches
the side columns off (``article_meta``'s page statements and language, the word count, the
story signature; the language model is then never loaded): the transform without them, whose
CPU beside the plain --transform run's is what they cost in a pool, caches and model included.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

from bench.corpus import ITEM_SUFFIX, corpus_files, parse_zyte_name, source_url, split_item

_want_texts = False  # set in each worker by the pool initializer
_options: dict[str, object] | None = None  # None: the pipeline's TRAFILATURA_OPTIONS
_transform = False  # the pipeline's transform_unit instead of the trafilatura call


_side_is_off = False


def _side_off() -> None:
    """Switch the side columns off in this worker (no page statements, language, word count
    or signature): the transform as it was before them, for what they cost in a pool."""
    global _side_is_off
    import flows.transform.article as article
    import flows.transform.metadata as metadata
    from flows.transform.about import About

    metadata.read_about = lambda tree, metas, jsonld: About()
    article.describe = lambda art, about: None
    _side_is_off = True


def _init(
    want_texts: bool,
    options: dict[str, object] | None = None,
    transform: bool = False,
    side_off: bool = False,
) -> None:
    global _want_texts, _options, _transform
    _want_texts = want_texts
    _options = options
    _transform = transform
    if side_off:
        _side_off()


def transform_files(paths: list[str]) -> list[tuple[str, str, int, str | None]]:
    """``extract_file``'s results for the pipeline's own work on a batch of inputs (no text):
    transform_unit on each, then the batch's languages and signatures, as a pipeline batch
    does."""
    from flows.core.units import Article, WorkUnit
    from flows.executors.batch import transform_unit
    from flows.transform.about import settle_languages
    from flows.transform.signature import sign_articles

    outcomes = [transform_unit(WorkUnit(source=p, path=p)) for p in paths]
    articles = [a for a in outcomes if isinstance(a, Article)]
    if not _side_is_off:
        settle_languages(articles)
        sign_articles(articles)
    return [
        (a.url, "ok", len(a.body), None) if isinstance(a, Article) else (p, "empty", 0, None)
        for p, a in zip(paths, outcomes, strict=True)
    ]


def _chunk(paths: list[str]) -> list[tuple[str, str, int, str | None]]:
    return transform_files(paths) if _transform else [extract_file(p) for p in paths]


def extract_file(path_str: str) -> tuple[str, str, int, str | None]:
    """``(url, status, text_length, text)``; text only for Zyte copies when texts are wanted."""
    import trafilatura

    from flows.core.settings import TRAFILATURA_OPTIONS

    path = Path(path_str)
    url = ""
    try:
        data = path.read_bytes()
        url = source_url(path, data)
        html = split_item(data)[2] if path.suffix == ITEM_SUFFIX else data
        options = TRAFILATURA_OPTIONS if _options is None else _options
        doc = trafilatura.bare_extraction(html, url=url, **options)
    except Exception as exc:  # counted and reported, never silently dropped
        return url or path_str, f"error: {type(exc).__name__}: {exc}", 0, None
    text = getattr(doc, "text", None) if doc is not None else None
    status = "ok" if text else "empty"
    keep = _want_texts and parse_zyte_name(path) is not None
    return url, status, len(text or ""), text if keep else None


def run_limit(
    corpus: Path,
    workers: int,
    chunksize: int,
    texts: Path | None,
    options: dict[str, object] | None = None,
    transform: bool = False,
    side_off: bool = False,
) -> dict[str, object]:
    """Extract every corpus file in a spawn pool; return the counts and timing."""
    paths = [str(p) for p in corpus_files(corpus)]
    counts = {"ok": 0, "empty": 0, "error": 0}
    errors: list[str] = []
    chars = 0
    out = texts.open("w", encoding="utf-8") if texts else None
    started = time.perf_counter()
    try:
        ctx = mp.get_context("spawn")
        initargs = (texts is not None, options, transform, side_off)
        with ctx.Pool(workers, initializer=_init, initargs=initargs) as pool:
            chunks = [paths[i : i + chunksize] for i in range(0, len(paths), chunksize)]
            for url, status, length, text in (
                one for done in pool.imap_unordered(_chunk, chunks) for one in done
            ):
                kind = status.split(":", 1)[0]
                counts[kind] += 1
                chars += length
                if kind == "error" and len(errors) < 5:
                    errors.append(f"{url}: {status}")
                if out is not None and text is not None:
                    out.write(json.dumps({"url": url, "text": text}, ensure_ascii=False) + "\n")
    finally:
        if out is not None:
            out.close()
    seconds = time.perf_counter() - started
    return {
        "files": len(paths),
        **counts,
        "text_chars": chars,
        "workers": workers,
        "chunksize": chunksize,
        "seconds": round(seconds, 3),
        "pages_per_s": round(len(paths) / seconds, 1) if seconds else None,
        "first_errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="trafilatura over all cores: the upper bound")
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--chunksize", type=int, default=32)
    parser.add_argument("--texts", type=Path, help="write Zyte copies' texts here (JSON lines)")
    parser.add_argument(
        "--with-metadata", action="store_true", help="trafilatura's defaults, with metadata"
    )
    parser.add_argument(
        "--transform", action="store_true", help="the pipeline's transform_unit per input"
    )
    parser.add_argument(
        "--side-off",
        action="store_true",
        help="with --transform: without the side columns (language, byline, signature)",
    )
    args = parser.parse_args()
    if not args.corpus.is_dir():
        sys.exit(f"bench.limit: {args.corpus} is not a directory")
    options = {"with_metadata": True} if args.with_metadata else None
    result = run_limit(
        args.corpus,
        args.workers,
        args.chunksize,
        args.texts,
        options,
        args.transform,
        args.side_off,
    )
    print(json.dumps(result))
    sys.exit(1 if result["error"] else 0)


if __name__ == "__main__":
    main()
