"""One date parser and one plausibility window for every timestamp, whatever its source."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flows.core.dates import is_plausible, latest, parse_iso
from flows.core.units import Article, WorkUnit
from flows.executors.batch import transform_unit
from flows.extract.archive import HeaderError, parse_archived
from flows.extract.web.sitemaps import parse_w3c_datetime

RUN_START = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
PAGE = (
    "<html><head><title>Harbour crane removed | Port News</title>"
    "<link rel=canonical href='https://port.example/news/crane'>{meta}</head><body><article>"
    "<h1>Harbour crane removed</h1><p>"
    + "The last of the old harbour cranes was lifted onto a barge and taken away. " * 6
    + "</p></article></body></html>"
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T10:00:00+02:00", datetime(2024, 5, 1, 8, tzinfo=UTC)),
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01 10:00:00.250-05:00", datetime(2024, 5, 1, 15, 0, 0, 250_000, tzinfo=UTC)),
        ("2024-05-01T10:00:00", None),  # a local time of an unknown zone
        ("2024-05-01", None),
        ("2024-05-01T10:00:00+99:00", None),  # an impossible offset is no date, not an error
        ("0001-01-01T00:00:00+05:00", None),  # before the calendar's start in UTC
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_iso(value: str | None, expected: datetime | None) -> None:
    assert parse_iso(value) == expected


def test_naive_values_are_utc_only_where_the_protocol_says_so() -> None:
    assert parse_iso("2024-05-01", naive_is_utc=True) == datetime(2024, 5, 1, tzinfo=UTC)
    assert parse_w3c_datetime("2024-05-01T10:00") == datetime(2024, 5, 1, 10, tzinfo=UTC)


def test_the_window_runs_from_1990_to_a_day_after_the_run_start() -> None:
    assert latest(RUN_START) == datetime(2024, 6, 2, 12, 0, tzinfo=UTC)
    assert is_plausible(datetime(1990, 1, 1, tzinfo=UTC), RUN_START)
    assert not is_plausible(datetime(1989, 12, 31, 23, 59, tzinfo=UTC), RUN_START)
    assert is_plausible(datetime(2024, 6, 2, 12, 0, tzinfo=UTC), RUN_START)
    assert not is_plausible(datetime(2024, 6, 2, 12, 0, 1, tzinfo=UTC), RUN_START)
    assert is_plausible(datetime(2030, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))


def test_archive_header_outside_the_window_is_a_bad_timestamp() -> None:
    item = "<!--{ms}-->\n[Crane removed](https://port.example/a)\n---\n<p>text</p>"
    june_3 = int(datetime(2024, 6, 3, tzinfo=UTC).timestamp() * 1000)
    with pytest.raises(HeaderError) as info:
        parse_archived(item.format(ms=june_3), RUN_START)
    assert info.value.reason == "bad_timestamp"
    assert parse_archived(item.format(ms=june_3)).published == datetime(2024, 6, 3, tzinfo=UTC)
    with pytest.raises(HeaderError):  # past year 9999: no overflow escapes
        parse_archived(item.format(ms=9_999_999_999_999_999))


@pytest.mark.parametrize(
    "published", [datetime(2099, 1, 1, tzinfo=UTC), datetime(1900, 1, 1, tzinfo=UTC)]
)
def test_a_feed_date_outside_the_window_is_dropped_and_the_article_kept(
    published: datetime,
) -> None:
    unit = WorkUnit(
        source="feed-item",
        data=PAGE.format(meta="").encode(),
        url="https://port.example/news/crane",
        title="Harbour crane removed",
        published=published,
        published_source="feed",
    )
    article = transform_unit(unit, RUN_START)
    assert isinstance(article, Article)
    assert article.timestamp is None
    assert article.timestamp_source == "implausible:feed"
    assert article.title == "Harbour crane removed"
    assert "barge" in article.body


def test_an_implausible_page_date_gives_way_to_a_plausible_one() -> None:
    meta = (
        '<meta property="article:published_time" content="2099-05-01T10:00:00+00:00">'
        '<meta itemprop="datePublished" content="2024-05-01T10:00:00+02:00">'
    )
    article = transform_unit(WorkUnit(source="p", data=PAGE.format(meta=meta).encode()), RUN_START)
    assert isinstance(article, Article)
    assert (article.timestamp, article.timestamp_source) == (
        datetime(2024, 5, 1, 8, tzinfo=UTC),
        "meta",
    )


def test_the_run_start_moves_the_window() -> None:
    meta = '<meta property="article:published_time" content="2024-06-10T10:00:00+00:00">'
    unit = WorkUnit(source="p", data=PAGE.format(meta=meta).encode())
    early = transform_unit(unit, RUN_START)
    assert isinstance(early, Article)
    assert (early.timestamp, early.timestamp_source) == (None, "implausible:meta")
    now = transform_unit(unit)
    assert isinstance(now, Article)
    assert now.timestamp == datetime(2024, 6, 10, 10, tzinfo=UTC)


def test_an_impossible_offset_does_not_stop_the_page() -> None:
    meta = '<meta property="article:published_time" content="2024-05-01T10:00:00+99:00">'
    article = transform_unit(WorkUnit(source="p", data=PAGE.format(meta=meta).encode()))
    assert isinstance(article, Article)
    assert article.url == "https://port.example/news/crane"


def test_a_placeholder_date_in_json_ld_leaves_the_page_its_visible_date() -> None:
    meta = (
        '<script type="application/ld+json">{"@type": "NewsArticle", '
        '"datePublished": "0001-01-01T00:00:00Z"}</script>'
    )
    page = PAGE.format(meta=meta).replace("<h1>", "<p class=byline>Published May 3, 2024</p><h1>")
    article = transform_unit(WorkUnit(source="p", data=page.encode()), RUN_START)
    assert isinstance(article, Article)
    assert (article.timestamp, article.timestamp_source) == (
        datetime(2024, 5, 3, tzinfo=UTC),
        "htmldate",
    )
