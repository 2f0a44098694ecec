"""Metadata read from the page itself: JSON-LD, <meta> tags, titles, the lead image."""

from __future__ import annotations

import lxml.html
import pytest

from flows.transform.metadata import (
    collapse,
    first_body_image,
    lenient_json,
    page_metadata,
    site_names,
    strip_site_name,
)


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
    values = lenient_json(text)
    assert values and values[0]["headline"] == "H"


def test_json_ld_keeps_strings_and_reads_several_objects() -> None:
    text = '{"headline": "a // b /* c */ ,]"} {"@graph": [{"@type": "NewsArticle"}]};'
    assert lenient_json(text) == [
        {"headline": "a // b /* c */ ,]"},
        {"@graph": [{"@type": "NewsArticle"}]},
    ]
    assert lenient_json("not json at all") == []


def test_a_site_name_is_stripped_from_either_end_of_a_title() -> None:
    sites = site_names({"og:site_name": "The Daily Example"}, {}, "https://www.daily.example/a")
    assert strip_site_name("Budget passes | The Daily Example", sites) == "Budget passes"
    assert strip_site_name("The Daily Example - Budget passes", sites) == "Budget passes"
    assert strip_site_name("Daily - Budget passes", sites) == "Budget passes"  # the host's name
    # Another name after the separator is part of the headline.
    assert strip_site_name("Budget passes | Opinion", sites) == "Budget passes | Opinion"


def test_the_lead_image_skips_chrome_and_inline_images() -> None:
    root = lxml.html.document_fromstring(
        "<html><body><header><img src='https://x.example/logo.png'></header>"
        "<article><img src='data:image/gif;base64,R0lGOD'>"
        "<img data-src='https://x.example/lead.jpg' src='data:,'></article></body></html>"
    )
    assert first_body_image(root) == "https://x.example/lead.jpg"


def test_page_metadata_prefers_the_article_markup() -> None:
    html = (
        "<html><head><title>Budget passes - Daily</title>"
        '<meta property="og:site_name" content="Daily">'
        '<meta property="og:image" content="https://daily.example/lead.jpg">'
        '<link rel="canonical" href="https://daily.example/budget">'
        '<script type="application/ld+json">{"@type": "NewsArticle", "headline": '
        '"Budget passes after a long debate", "datePublished": "2024-05-01T10:00:00Z"}</script>'
        "</head><body><h1>Budget passes after a long debate</h1></body></html>"
    )
    meta = page_metadata(lxml.html.document_fromstring(html), head=html[:2000])
    assert meta.url == "https://daily.example/budget"
    assert collapse(meta.title) == "Budget passes after a long debate"
    assert meta.image == "https://daily.example/lead.jpg"
    assert meta.published is not None and meta.published.isoformat() == "2024-05-01T10:00:00+00:00"
