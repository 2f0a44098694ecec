"""A body's near-duplicate signature: MinHash over word shingles, banded for LSH in DuckDB.

Only the extracted body is signed: a changed headline must not split a story, and the page's
template (navigation, share bars, related-article lists) is what extraction leaves out.

A batch's articles are signed together (``sign_articles``): the MinHash library's vector code
costs about as much per call, whatever the call's size, in the time the core runs slower after
it as in the call itself, so one call per document cost more than the rest of the side work.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import rensa

from flows.core.settings import STORY_MIN_SHINGLES, STORY_PERMUTATIONS, STORY_SHINGLE_WORDS
from flows.core.units import Article

# A word, or one CJK character: Chinese and Japanese run on without spaces, so each character
# is a token there (a 'word' would be a whole clause).
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]|[^\W_]+")
_SEED = 20261207  # fixed for ever: signatures from different runs must be comparable
# Under the library's threshold for starting a thread pool (256 documents a call): a worker
# has one core, which the other workers' cores must not share.
SIGN_CHUNK = 128
# Signing runs after the batch's transforms, outside each document's isolation: whatever one
# article's text makes the library raise costs that article its signature, never the batch.
_SIDE_ERRORS = (Exception,)


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


def _digests(grams: list[list[str]]) -> list[list[int] | None]:
    """The MinHash of each shingle list, in one call; one by one if the call fails, so that
    a text the library refuses costs its own signature only."""
    try:
        found = rensa.RMinHash.digests_from_token_sets(grams, STORY_PERMUTATIONS, _SEED)
        return [[int(v) for v in digest] for digest in found]
    except _SIDE_ERRORS:
        pass
    out: list[list[int] | None] = []
    for one in grams:
        try:
            minhash = rensa.RMinHash(num_perm=STORY_PERMUTATIONS, seed=_SEED)
            minhash.update(one)
            out.append([int(v) for v in minhash.digest()])
        except _SIDE_ERRORS:
            out.append(None)
    return out


def sign_articles(articles: Sequence[Article]) -> None:
    """Fill each article's ``word_count`` and story signature (``minhash``; None for a body
    too short), with one MinHash call per SIGN_CHUNK articles. The same values as
    ``signature`` gives one body at a time."""
    grams: list[list[str]] = []
    waiting: list[Article] = []
    for article in articles:
        try:
            words = tokens(article.body)
            article.word_count = len(words)
            found = shingles(words)
        except _SIDE_ERRORS:
            continue
        if len(found) >= STORY_MIN_SHINGLES:
            grams.append(list(found))  # a MinHash does not depend on the order
            waiting.append(article)
    for start in range(0, len(grams), SIGN_CHUNK):
        digests = _digests(grams[start : start + SIGN_CHUNK])
        for article, digest in zip(waiting[start : start + SIGN_CHUNK], digests, strict=True):
            article.minhash = digest


def similarity(a: list[int], b: list[int]) -> float:
    """Estimated Jaccard similarity of two signatures: the share of equal positions."""
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)
