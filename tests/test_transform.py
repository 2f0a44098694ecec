"""Golden inputs: every example and tricky file gives exactly the expected article or reject."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import lxml.html
import pytest
from lxml import etree

from flows.core.units import Article, Rejection, WorkUnit
from flows.executors.batch import transform_unit
from flows.transform import article as transform
from flows.transform import metadata as transform_metadata

from .conftest import DATA, EXAMPLES, shared_path

CASES = [
    (EXAMPLES, name, spec)
    for name, spec in json.loads((DATA / "examples_expected.json").read_text("utf-8")).items()
] + [
    (DATA, name, spec)
    for name, spec in json.loads((DATA / "expected.json").read_text("utf-8")).items()
]


def _expected_timestamp(value: str | None) -> datetime | None:
    if value is None:
        return None
    if len(value) == 10:  # a date only: midnight UTC
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


@pytest.mark.parametrize(("root", "name", "spec"), CASES, ids=[c[1] for c in CASES])
def test_golden_file(root: Path, name: str, spec: dict) -> None:
    path = root / name
    outcome = transform_unit(WorkUnit(source=str(path), path=str(path)))
    if "reject" in spec:
        assert isinstance(outcome, Rejection), f"expected reject {spec['reject']}, got {outcome}"
        assert outcome.reason == spec["reject"], outcome.detail
        return
    if spec.get("reject_or_article"):
        if isinstance(outcome, Rejection):
            assert outcome.reason == "parse_error"
        else:
            assert outcome.url == spec["url"] and outcome.body
        return
    assert isinstance(outcome, Article), f"{name}: {outcome}"
    assert outcome.url == spec["url"]
    assert outcome.title == spec["title"]
    if "timestamp" in spec:
        assert outcome.timestamp == _expected_timestamp(spec["timestamp"])
    if "timestamp_source" in spec:
        assert outcome.timestamp_source == spec["timestamp_source"]
    if "title_source" in spec:
        assert outcome.title_source == spec["title_source"]
    assert outcome.image == spec.get("image")
    for sentence in spec.get("contains", []):
        assert sentence in outcome.body
    for text in spec.get("absent", []):
        assert text not in outcome.body
    assert outcome.body.strip() == outcome.body and outcome.body


def test_seed_item() -> None:
    seed = shared_path("seed", "000_1a3f970fd5f7210b.txt")
    article = transform_unit(WorkUnit(source=str(seed), path=str(seed)))
    assert isinstance(article, Article)
    assert article.url == (
        "https://www.rfi.fr/cn/%E4%B8%AD%E5%9B%BD/20230801-%E4%B8%AD%E5%9B%BD%E5%A4%96%E4%BA%A4"
        "%E9%83%A8%E9%95%BF%E7%8E%8B%E6%AF%85%E5%8F%97%E9%82%80%E8%AE%BF%E9%97%AE%E7%BE%8E%E5%9B%BD"
    )
    assert article.timestamp == datetime(2023, 8, 1, 23, 45, 1, 0, tzinfo=UTC)
    assert article.title == "中国外交部长王毅受邀访问美国"
    assert article.image is not None
    assert article.image.startswith("https://s.rfi.fr/media/display/b6583f6c-")
    assert article.image.endswith(".png")
    assert article.body.startswith(
        "美国国务院发言人马修·米勒表示，美国和中国高级官员周一在华盛顿举行会议期间发出了这一邀请。"
    )
    assert "分享" not in article.body
    assert "01/08/2023" not in article.body
    assert article.timestamp_source == "header"


def test_known_metadata_beats_the_page() -> None:
    page = (
        b"<html><head><title>Page title</title><link rel=canonical href='https://a.example/p'>"
        b"</head><body><article><p>" + b"Plenty of article text here. " * 20 + b"</p></article>"
        b"</body></html>"
    )
    known = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    unit = WorkUnit(
        source="feed",
        data=page,
        url="https://feed.example/item?utm_source=rss",
        title="Feed title",
        published=known,
        published_source="feed",
    )
    article = transform_unit(unit)
    assert isinstance(article, Article)
    assert (article.url, article.title, article.timestamp) == (
        "https://feed.example/item",
        "Feed title",
        known,
    )


def test_oversize_and_gzip_bomb_are_rejected(tmp_path: Path) -> None:
    import gzip

    big = tmp_path / "big.html"
    big.write_bytes(b"<p>" + b"x" * (11 * 1024 * 1024))
    bomb = tmp_path / "bomb.html.gz"
    bomb.write_bytes(gzip.compress(b"<p>" + b"a" * (50 * 1024 * 1024)))
    for path in (big, bomb):
        outcome = transform_unit(WorkUnit(source=str(path), path=str(path)))
        assert isinstance(outcome, Rejection) and outcome.reason == "too_large"


FORM_PAGE = """<html><head><title>Forms and fields</title>
<link rel="canonical" href="https://example.org/forms"></head><body><article>
<h1>Forms and fields</h1>
<p>A page whose article sits beside a search form, a select box and a text area, the elements
to which lxml.html gives classes of their own.</p>
<form action="/search"><label for="q">Search</label><input id="q" name="q" value="x">
<select name="s"><option value="1" selected>one</option></select>
<textarea name="t">typed text</textarea></form>
<p>The second paragraph of the article, long enough to count as one sentence of body.</p>
</article></body></html>"""


def test_fast_parse_gives_the_same_articles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """parse_html picks element classes in C: every golden file and a page of form fields
    come out exactly as with lxml.html's own parser."""
    (tmp_path / "forms.html").write_text(FORM_PAGE, encoding="utf-8")
    paths = [root / name for root, name, _ in CASES] + [tmp_path / "forms.html"]
    tree = transform.parse_html(FORM_PAGE)
    assert all(type(el) is lxml.html.HtmlElement for el in tree.iter(etree.Element))
    fast = [transform_unit(WorkUnit(source=str(p), path=str(p))) for p in paths]
    assert isinstance(fast[-1], Article)
    # What lxml.html.HTMLParser sets: the class of each element picked in Python.
    monkeypatch.setattr(transform, "_ELEMENT_CLASSES", lxml.html.HtmlElementClassLookup())
    assert type(transform.parse_html(FORM_PAGE).find(".//input")) is lxml.html.InputElement
    assert [transform_unit(WorkUnit(source=str(p), path=str(p))) for p in paths] == fast


def test_control_characters_leave_an_item_header_title() -> None:
    item = (
        "<!--1690933501000-->\n"
        "[Council \x1b[1mvotes\x1b[0m on the\x07 budget](https://news.example.com/council-budget)\n"
        "------\n<div><p>"
        + "The council voted on the budget after a long debate. " * 4
        + "</p></div>"
    )
    article = transform_unit(WorkUnit(source="item", data=item.encode()))
    assert isinstance(article, Article), article
    assert article.title == "Council votes on the budget"
    assert article.timestamp_source == "header"


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"\x28\xb5\x2f\xfd\x04\x58\x00\x00" + bytes(range(256)), "zstd-compressed"),
        (b"\x50\x2a\x4d\x18\x04\x00\x00\x00dict" + bytes(64), "zstd-compressed"),
        (b"%PDF-1.7\n" + bytes(range(256)), "a PDF document"),
        (b"\x00\x01\x02 nothing known", "binary content"),
        (gzip.compress(b"filedesc://IA-001.arc 0.0.0.0 20080101000000 text/plain 76\n"), "ARC"),
    ],
)
def test_a_binary_or_archive_input_says_what_it_is(data: bytes, said: str) -> None:
    outcome = transform_unit(WorkUnit(source="in", data=data, url="https://b.example/x"))
    assert isinstance(outcome, Rejection) and outcome.reason == "not_html"
    assert said in outcome.detail


# --- fidelity rules (issue: right on pages nobody tuned for) -------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '<![CDATA[{"@type": "NewsArticle", "headline": "H"}]]>',
        '/*<![CDATA[*/ {"@type": "NewsArticle", "headline": "H"} /*]]>*/',
        '//<![CDATA[\n{"@type": "NewsArticle", "headline": "H"}\n//]]>',
        '<!-- {"@type": "NewsArticle", "headline": "H"} -->',
        '{"@type": "NewsArticle", /* a note */ "headline": "H",}',
        '{"@type": "NewsArticle", // a note\n "headline": "H", "tags": ["a", "b",],}',
        '{"@type": "NewsArticle", "headline": "H", /* a note */ }',
        '{"@type": "NewsArticle", "headline": "H", // a note\n}',
    ],
)
def test_json_ld_is_read_as_leniently_as_search_engines_read_it(text: str) -> None:
    values = transform_metadata.lenient_json(text)
    assert values and values[0]["headline"] == "H"


def test_json_ld_keeps_strings_and_reads_several_objects() -> None:
    text = '{"headline": "a // b /* c */ ,]"} {"@graph": [{"@type": "NewsArticle"}]};'
    assert transform_metadata.lenient_json(text) == [
        {"headline": "a // b /* c */ ,]"},
        {"@graph": [{"@type": "NewsArticle"}]},
    ]
    assert transform_metadata.lenient_json("not json at all") == []


def test_the_first_sentence_title_is_cut_at_a_word_boundary() -> None:
    assert transform.first_sentence("Short one. And more.\nNext line") == "Short one."
    long = "word " * 60
    cut = transform.first_sentence(long)
    assert len(cut) <= transform.MAX_FALLBACK_TITLE and cut.endswith("word")
    assert transform.first_sentence("字" * 300) == "字" * transform.MAX_FALLBACK_TITLE


def test_a_page_with_a_body_is_never_rejected_for_its_title(tmp_path: Path) -> None:
    """No <title>, no og:title, no <h1>, no JSON-LD: the body's first sentence names it."""
    page = tmp_path / "untitled.html"
    page.write_text(
        "<html><body><p>"
        + "The ferry to the islands will run twice a day from Monday, the operator said. " * 3
        + "</p></body></html>",
        "utf-8",
    )
    outcome = transform_unit(WorkUnit(source=str(page), path=str(page), url="https://f.example/a"))
    assert isinstance(outcome, Article), outcome
    assert (
        outcome.title
        == "The ferry to the islands will run twice a day from Monday, the operator said."
    )
    assert outcome.title_source == "body"


def test_the_fallback_extractors_recover_what_fast_mode_loses() -> None:
    """The forum archive page of tests/data is recovered whole only by trafilatura's fallback
    extractors (which ``fast=True`` switches off): the pipeline keeps them."""
    import trafilatura

    html = (DATA / "fidelity_fallback_extractor.html").read_text("utf-8")
    fast = trafilatura.bare_extraction(html, fast=True, with_metadata=False)
    assert "Basque team" not in (fast.text if fast is not None else "")
    path = DATA / "fidelity_fallback_extractor.html"
    outcome = transform_unit(WorkUnit(source=str(path), path=str(path)))
    assert isinstance(outcome, Article) and "Basque team" in outcome.body


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_a_utf16_page_is_html(encoding: str) -> None:
    html = (
        "<html><head><title>Pier vote</title><link rel=canonical href='https://h.example/p'>"
        "</head><body><p>" + "The harbour board voted to rebuild the old north pier. " * 4
    ) + "</p></body></html>"
    data = html.encode(encoding) if encoding == "utf-16" else b"\xfe\xff" + html.encode(encoding)
    outcome = transform_unit(WorkUnit(source="u16", data=data))
    assert isinstance(outcome, Article) and outcome.title == "Pier vote", outcome
