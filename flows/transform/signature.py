"""A body's near-duplicate signature: MinHash over word shingles, banded for LSH in DuckDB.

Only the extracted body is signed: a changed headline must not split a story, and the page's
template (navigation, share bars, related-article lists) is what extraction leaves out.
"""

from __future__ import annotations

import re

import rensa

from flows.core.settings import STORY_MIN_SHINGLES, STORY_PERMUTATIONS, STORY_SHINGLE_WORDS

# A word, or one CJK character: Chinese and Japanese run on without spaces, so each character
# is a token there (a 'word' would be a whole clause).
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]|[^\W_]+")
_SEED = 20261207  # fixed for ever: signatures from different runs must be comparable


def tokens(body: str) -> list[str]:
    """The body's words (CJK characters one by one), case-folded."""
    return _TOKEN.findall(body.casefold())


def shingles(words: list[str], k: int = STORY_SHINGLE_WORDS) -> set[str]:
    """The distinct runs of ``k`` consecutive words."""
    return set(map(" ".join, zip(*(words[i:] for i in range(k)), strict=False)))


def signature(body: str | list[str], k: int = STORY_SHINGLE_WORDS) -> list[int] | None:
    """The body's MinHash (STORY_PERMUTATIONS unsigned 32-bit values), or None for a body too
    short to tell one story from another (it then starts a story of its own). ``body`` may be
    given as its ``tokens`` already."""
    grams = shingles(tokens(body) if isinstance(body, str) else body, k)
    if len(grams) < STORY_MIN_SHINGLES:
        return None
    minhash = rensa.RMinHash(num_perm=STORY_PERMUTATIONS, seed=_SEED)
    minhash.update(list(grams))  # a MinHash does not depend on the order
    return [int(v) for v in minhash.digest()]


def similarity(a: list[int], b: list[int]) -> float:
    """Estimated Jaccard similarity of two signatures: the share of equal positions."""
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)
