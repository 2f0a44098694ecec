"""Body-text scoring of the Zyte article-extraction benchmark (see shared/corpus/README.md).

Both texts are split into word tokens (regex ``\\w+``) and then into overlapping 4-token
shingles. Per page, precision = matched / extracted and recall = matched / expected, counting
repeated shingles (multiset intersection). Precision and recall are averaged over pages and F1
is taken of the two averages, so figures compare with the published ones.

    .venv/bin/python -m bench.score            # trafilatura with_metadata=True (the README's call)
    .venv/bin/python -m bench.score --fast     # with_metadata=False, fast=True
    .venv/bin/python -m bench.score --pipeline # flows.core.settings.TRAFILATURA_OPTIONS
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from bench import SHARED

TOKEN_RE = re.compile(r"\w+")
SHINGLE = 4


class Score(NamedTuple):
    precision: float
    recall: float
    f1: float
    pages: int


class PageScore(NamedTuple):
    precision: float
    recall: float


def shingles(text: str, n: int = SHINGLE) -> Counter[tuple[str, ...]]:
    """Overlapping n-token sequences of ``text`` with their counts."""
    tokens = TOKEN_RE.findall(text)
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def score_page(extracted: str | None, expected: str) -> PageScore:
    """One page: an extraction with no shingle (None, empty, < 4 tokens) scores 0 and 0."""
    got = shingles(extracted or "")
    want = shingles(expected)
    n_got, n_want = got.total(), want.total()
    if n_got == 0:
        return PageScore(0.0, 0.0)
    matched = (got & want).total()
    return PageScore(matched / n_got, matched / n_want if n_want else 0.0)


def score(pairs: Iterable[tuple[str | None, str]]) -> Score:
    """Score ``(extracted, expected)`` pairs: mean precision, mean recall, F1 of the means."""
    per_page = [score_page(extracted, expected) for extracted, expected in pairs]
    if not per_page:
        return Score(0.0, 0.0, 0.0, 0)
    precision = sum(p.precision for p in per_page) / len(per_page)
    recall = sum(p.recall for p in per_page) / len(per_page)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Score(precision, recall, f1, len(per_page))


def zyte_pages(shared: Path = SHARED) -> Iterator[tuple[str, str, bytes, str]]:
    """``(page_id, url, html_bytes, expected_body)`` for every Zyte page, ordered by id."""
    root = shared / "corpus" / "zyte"
    truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    for page_id in sorted(truth):
        html = gzip.decompress((root / "html" / f"{page_id}.html.gz").read_bytes())
        yield page_id, truth[page_id]["url"], html, truth[page_id]["articleBody"]


def main() -> None:
    import trafilatura

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="with_metadata=False, fast=True")
    parser.add_argument(
        "--pipeline", action="store_true", help="flows.core.settings.TRAFILATURA_OPTIONS"
    )
    parser.add_argument("--shared", type=Path, default=SHARED)
    args = parser.parse_args()
    options: dict[str, object] = {"with_metadata": True}
    if args.fast:
        options = {"with_metadata": False, "fast": True}
    if args.pipeline:
        from flows.core.settings import TRAFILATURA_OPTIONS

        options = dict(TRAFILATURA_OPTIONS)

    pairs: list[tuple[str | None, str]] = []
    started = time.process_time()
    for _, url, html, expected in zyte_pages(args.shared):
        doc = trafilatura.bare_extraction(html, url=url, **options)
        pairs.append((doc.text if doc is not None else None, expected))
    cpu = time.process_time() - started
    result = score(pairs)
    print(
        f"trafilatura {trafilatura.__version__} {options}: F1 {result.f1:.3f} "
        f"(precision {result.precision:.3f}, recall {result.recall:.3f}) "
        f"on {result.pages} pages, {cpu:.1f} s CPU"
    )


if __name__ == "__main__":
    main()
