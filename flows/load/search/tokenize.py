"""How title and body are cut into terms, the same for the index and for queries.

Chinese and Japanese are written without spaces and the tantivy binding has no segmenter, so
every Han, Hiragana and Katakana character is a term of its own, with its position: a word of
two or more characters is then a phrase of its characters, found inside running text whatever
the words around it. Every other run of letters, digits and marks is one term (lower-cased),
so a Latin word stops where CJK text starts (``iPhone发布`` is ``iphone`` ``发`` ``布``).
"""

from __future__ import annotations

from functools import cache

import tantivy

TOKENIZER_NAME = "article_words"
_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}"
# One CJK character, or a run of other letters, digits and combining marks.
TOKEN_PATTERN = rf"[{_CJK}]|[[\p{{L}}\p{{N}}\p{{M}}]--[{_CJK}]]+"
# Longer runs are not words (base64, hashes): left out of the index, as out of queries.
MAX_TOKEN_CHARS = 40


@cache
def analyzer() -> tantivy.TextAnalyzer:
    """The analyzer registered with the index under TOKENIZER_NAME."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(TOKEN_PATTERN))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.remove_long(MAX_TOKEN_CHARS))
        .build()
    )


def terms(text: str) -> list[str]:
    """The terms of ``text`` in order, as the index holds them."""
    return list(analyzer().analyze(text))
