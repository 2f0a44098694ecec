from __future__ import annotations

import pytest

from flows.core.urls import BadURL, absolute_http_url, canonical_url


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTPS://WWW.Example.COM/Path?utm_source=a#frag", "https://www.example.com/Path"),
        ("https://en.example.org/wiki/Foo_(bar)", "https://en.example.org/wiki/Foo_(bar)"),
        ("https://x.org/a?id=5&utm_medium=y&fbclid=1&gclid=2&b=", "https://x.org/a?id=5&b="),
        ("https://www.rfi.fr/cn/%E4%B8%AD%E5%9B%BD", "https://www.rfi.fr/cn/%E4%B8%AD%E5%9B%BD"),
        ("http://Example.com:8080/A/B", "http://example.com:8080/A/B"),
        ("  https://example.com/x  ", "https://example.com/x"),
    ],
)
def test_canonical_url(raw: str, expected: str) -> None:
    assert canonical_url(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "/news/1",
        "ftp://example.com/a",
        "javascript:alert(1)",
        "http://",
        "",
        "https://ex ample.com/",
    ],
)
def test_bad_urls_are_refused(raw: str) -> None:
    with pytest.raises(BadURL):
        canonical_url(raw)


def test_absolute_http_url_resolves_and_refuses_data_uris() -> None:
    base = "https://news.example.com/world/story.html"
    assert absolute_http_url("/media/a.jpg", base) == "https://news.example.com/media/a.jpg"
    assert absolute_http_url("b.png", base) == "https://news.example.com/world/b.png"
    assert absolute_http_url("data:image/gif;base64,R0lGOD", base) is None
    assert absolute_http_url("javascript:void(0)", base) is None
