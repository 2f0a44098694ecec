"""The "limit": the pipeline's trafilatura call over all cores, nothing else.

    .venv/bin/python -m bench.limit CORPUS [--workers N] [--chunksize 32] [--texts OUT.jsonl]
                                           [--with-metadata]

Each worker reads a file from disk and calls ``trafilatura.bare_extraction(html_bytes, url=...,
**TRAFILATURA_OPTIONS)``; archived items are fed their body HTML (after the header). Prints one
JSON line with counts and the extraction time (pool start-up included, interpreter start not).
With --with-metadata the call is trafilatura's own default with metadata instead
(``bare_extraction(html, url=..., with_metadata=True)``): what a user of the library runs.
With --transform each worker runs the pipeline's whole per-input function instead
(``transform_unit``: read, decode, metadata, dates, trafilatura), with no Prefect, no
staging files and no DuckDB: the same work in a bare process pool, which is what the
pipeline's orchestration is measured against. With --side as well, its output adds the side
work's share of the transform's CPU time (``side_share``): each worker times transform_unit,
then times the side columns' work again on the same page (bench.stories.side_cpu: read_about,
the language, the signature), which transform_unit has already done once inside. That second
pass is extra work, so a --side run is not a bare pool to compare the pipeline with.
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
_side = False  # time the side columns' work again after each transform


def _init(
    want_texts: bool,
    options: dict[str, object] | None = None,
    transform: bool = False,
    side: bool = False,
) -> None:
    global _want_texts, _options, _transform, _side
    _want_texts = want_texts
    _options = options
    _transform = transform
    _side = side


def transform_file(path_str: str) -> tuple[str, str, int, str | None]:
    """``extract_file``'s result for the pipeline's own per-input function; its "text" is
    the CPU seconds of the transform and of the side work in it (``"total side"``)."""
    from bench.stories import side_cpu
    from flows.core.units import Article, WorkUnit
    from flows.executors.batch import transform_unit

    started = time.thread_time()
    outcome = transform_unit(WorkUnit(source=path_str, path=path_str))
    total = time.thread_time() - started
    if isinstance(outcome, Article):
        side = side_cpu(Path(path_str).read_bytes(), outcome) if _side else 0.0
        return outcome.url, "ok", len(outcome.body), f"{total} {side}"
    return path_str, "empty", 0, f"{total} 0"


def _one(path_str: str) -> tuple[str, str, int, str | None]:
    return transform_file(path_str) if _transform else extract_file(path_str)


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
    side: bool = False,
) -> dict[str, object]:
    """Extract every corpus file in a spawn pool; return the counts and timing."""
    paths = [str(p) for p in corpus_files(corpus)]
    counts = {"ok": 0, "empty": 0, "error": 0}
    errors: list[str] = []
    chars = 0
    cpu = {"transform": 0.0, "side": 0.0}
    out = texts.open("w", encoding="utf-8") if texts else None
    started = time.perf_counter()
    try:
        ctx = mp.get_context("spawn")
        initargs = (texts is not None, options, transform, side)
        with ctx.Pool(workers, initializer=_init, initargs=initargs) as pool:
            for url, status, length, text in pool.imap_unordered(_one, paths, chunksize=chunksize):
                kind = status.split(":", 1)[0]
                counts[kind] += 1
                chars += length
                if transform and text:
                    total, side = map(float, text.split())
                    cpu["transform"] += total
                    cpu["side"] += side
                    continue
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
        **(
            {"side_share": round(cpu["side"] / cpu["transform"], 4) if cpu["transform"] else None}
            if transform and side
            else {}
        ),
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
        "--side",
        action="store_true",
        help="with --transform: time the side columns' work again, for its share",
    )
    args = parser.parse_args()
    if not args.corpus.is_dir():
        sys.exit(f"bench.limit: {args.corpus} is not a directory")
    options = {"with_metadata": True} if args.with_metadata else None
    result = run_limit(
        args.corpus, args.workers, args.chunksize, args.texts, options, args.transform, args.side
    )
    print(json.dumps(result))
    sys.exit(1 if result["error"] else 0)


if __name__ == "__main__":
    main()
