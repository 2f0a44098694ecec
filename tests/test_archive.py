from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flows.extract.archive import HeaderError, looks_archived, parse_archived

from .conftest import shared_path


def test_seed_header_is_the_truth() -> None:
    text = (shared_path("seed") / "000_1a3f970fd5f7210b.txt").read_text(encoding="utf-8")
    item = parse_archived(text)
    assert item.published == datetime(2023, 8, 1, 23, 45, 1, tzinfo=UTC)
    assert item.title == "中国外交部长王毅受邀访问美国"
    assert item.url.startswith("https://www.rfi.fr/cn/%E4%B8%AD%E5%9B%BD/20230801-")
    assert item.body_html.lstrip().startswith("<div>01/08/2023 - 22:48</div>")


def test_brackets_parentheses_crlf_and_long_rule() -> None:
    text = (
        "<!--1690933501123-->\r\n"
        "[[Update] Talks (round 2) resume](https://en.example.org/wiki/Foo_(bar))\r\n"
        "------------------------------------------------------------\r\n"
        "<p>Body</p>\r\n"
    )
    assert looks_archived(text)
    item = parse_archived(text)
    assert item.title == "[Update] Talks (round 2) resume"
    assert item.url == "https://en.example.org/wiki/Foo_(bar)"
    assert item.published.microsecond == 123_000
    assert "<p>Body</p>" in item.body_html


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("<!--notanumber-->\n[T](https://x.org/a)\n---\n<p>x</p>", "bad_timestamp"),
        ("<!--32503680000000-->\n[T](https://x.org/a)\n---\n<p>x</p>", "bad_timestamp"),
        ("<!--1690933501000-->\n[T](https://x.org/a)\n<p>no rule</p>", "bad_header"),
        ("<!--1690933501000-->\n[T] https://x.org/a\n---\n<p>x</p>", "bad_header"),
    ],
)
def test_bad_headers_have_reasons(text: str, reason: str) -> None:
    with pytest.raises(HeaderError) as info:
        parse_archived(text)
    assert info.value.reason == reason


def test_html_page_is_not_an_item() -> None:
    assert not looks_archived("<!-- saved page -->\n<!DOCTYPE html><html></html>")
