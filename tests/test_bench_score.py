"""The benchmark's body-text scoring on tiny hand-made texts, with exact expected numbers."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.score import Score, score, score_page, shingles

FIVE = "one two three four five"  # 2 shingles
SIX = "one two three four five six"  # 3 shingles


def test_shingles_are_overlapping_four_token_sequences() -> None:
    assert shingles(SIX) == Counter(
        {
            ("one", "two", "three", "four"): 1,
            ("two", "three", "four", "five"): 1,
            ("three", "four", "five", "six"): 1,
        }
    )
    assert shingles("one two three") == Counter()


def test_tokens_are_word_characters_punctuation_ignored() -> None:
    # \w+ splits "It's" into "It" and "s"; case is kept.
    assert score_page("Hello, world! It's 2024.", "Hello world It s 2024") == (1.0, 1.0)
    assert score_page("hello world it s 2024", "Hello world It s 2024") == (0.0, 0.0)


def test_unicode_words_are_tokens() -> None:
    assert shingles("Grüße aus Köln, heute früh") == Counter(
        {("Grüße", "aus", "Köln", "heute"): 1, ("aus", "Köln", "heute", "früh"): 1}
    )
    # A run of CJK characters without spaces is one token.
    assert shingles("中国外交部长王毅受邀访问美国。") == Counter()


def test_identical_text_scores_one() -> None:
    assert score([(SIX, SIX)]) == Score(1.0, 1.0, 1.0, 1)


def test_partial_match() -> None:
    # Shared: (one two three four), (two three four five); each side has one of its own.
    page = score_page(FIVE + " six", FIVE + " seven")
    assert page.precision == pytest.approx(2 / 3)
    assert page.recall == pytest.approx(2 / 3)


def test_repeated_shingles_count_as_a_multiset() -> None:
    # 5 extracted shingles, (a b c d) twice; it is expected once, so it matches once.
    page = score_page("a b c d a b c d", "a b c d")
    assert page.precision == pytest.approx(1 / 5)
    assert page.recall == 1.0
    # Expected twice, extracted once: recall 1/5.
    page = score_page("a b c d", "a b c d a b c d")
    assert page == (1.0, pytest.approx(1 / 5))


@pytest.mark.parametrize("extracted", [None, "", "   ", "too short text"])
def test_empty_extraction_scores_zero(extracted: str | None) -> None:
    assert score_page(extracted, SIX) == (0.0, 0.0)


def test_averages_over_pages_then_f1_of_the_averages() -> None:
    # Page 1: p=1, r=2/3. Page 2: p=2/3, r=1. Means 5/6 and 5/6, F1 5/6 (the mean of the
    # per-page F1s would be 0.8).
    result = score([(FIVE, SIX), (SIX, FIVE)])
    assert result.pages == 2
    assert result.precision == pytest.approx(5 / 6)
    assert result.recall == pytest.approx(5 / 6)
    assert result.f1 == pytest.approx(5 / 6)


def test_empty_page_pulls_the_averages_down() -> None:
    result = score([(SIX, SIX), (None, SIX), (FIVE, SIX), ("", FIVE)])
    assert result.precision == pytest.approx((1 + 0 + 1 + 0) / 4)
    assert result.recall == pytest.approx((1 + 0 + 2 / 3 + 0) / 4)
    p, r = 0.5, (5 / 3) / 4
    assert result.f1 == pytest.approx(2 * p * r / (p + r))


def test_no_pages() -> None:
    assert score([]) == Score(0.0, 0.0, 0.0, 0)


def test_accepts_a_generator() -> None:
    assert score((t, t) for t in [FIVE, SIX]).f1 == 1.0
