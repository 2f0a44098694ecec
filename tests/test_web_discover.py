"""discover_web against a real HTTP server on 127.0.0.1: feeds, sitemaps, pages, and
incremental polls."""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from flows.core.units import Rejection, WorkUnit
from flows.extract.web import NotModified, Validator, WebOptions, WebStats, discover_web

pytestmark = pytest.mark.timeout(30)

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:media="http://search.yahoo.com/mrss/">
<channel><title>News</title><link>{base}/</link>
<item>
  <title>First &amp; foremost</title>
  <link>/news/1.html</link>
  <pubDate>Tue, 10 Jun 2025 04:05:06 +0200</pubDate>
  <description>teaser</description>
  <content:encoded><![CDATA[<p>The first article body.</p><img src="/img/1.jpg">]]>
  </content:encoded>
  <media:content url="/img/lead1.jpg" medium="image"/>
</item>
<item>
  <title>Second</title>
  <link>{base}/news/2.html</link>
  <pubDate>Wed, 11 Jun 2025 23:59:59 GMT</pubDate>
  <content:encoded><![CDATA[<p>Second body, with 中文.</p>]]></content:encoded>
</item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Atom news</title><id>urn:x</id><updated>2025-06-12T10:00:00Z</updated>
  <entry>
    <title type="html">Atom &lt;b&gt;one&lt;/b&gt;</title>
    <link rel="alternate" href="articles/one"/>
    <id>urn:1</id>
    <published>2025-06-12T09:30:15.250+01:00</published>
    <updated>2025-06-12T10:00:00Z</updated>
    <content type="html">&lt;p&gt;Atom body one.&lt;/p&gt;</content>
  </entry>
  <entry>
    <title>Atom two</title>
    <link href="https://elsewhere.example/two"/>
    <id>urn:2</id>
    <updated>2025-06-13T00:00:00Z</updated>
    <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Atom body two.</p></div>
    </content>
  </entry>
</feed>"""

SUMMARY_RSS = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>Teasers</title>
<item><title>Teaser one</title><link>/story/1</link>
  <pubDate>Mon, 02 Jun 2025 08:00:00 GMT</pubDate><description>Only a summary.</description></item>
<item><title>Teaser two</title><link>/story/2?x=1#comments</link>
  <pubDate>Mon, 02 Jun 2025 09:00:00 GMT</pubDate><description>Another.</description></item>
</channel></rss>"""


def page(text: str) -> str:
    return f"<html><head><title>{text}</title></head><body><p>{text}</p></body></html>"


def options(**overrides: object) -> WebOptions:
    base: dict[str, object] = {
        "allow_private_network": True,
        "min_delay_s": 0.0,
        "backoff_s": 0.05,
        "connect_timeout_s": 2.0,
        "read_timeout_s": 2.0,
    }
    base.update(overrides)
    return WebOptions(**base)  # type: ignore[arg-type]


def run(
    sources: Iterable[str],
    validators: Mapping[str, Validator] | None = None,
    stats: WebStats | None = None,
    **overrides: object,
) -> list[object]:
    return list(discover_web(sources, options(**overrides), validators or {}, stats=stats))


def units(items: list[object]) -> dict[str, WorkUnit]:
    return {item.source: item for item in items if isinstance(item, WorkUnit)}


def paths(server: HTTPServer) -> list[str]:
    return [request.full_path.rstrip("?") for request, _ in server.log]


@pytest.fixture
def site(httpserver: HTTPServer) -> HTTPServer:
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    return httpserver


def test_rss_full_content_becomes_units_without_fetching_pages(site: HTTPServer) -> None:
    base = site.url_for("").rstrip("/")
    site.expect_request("/feed.xml").respond_with_data(
        RSS.format(base=base), content_type="application/rss+xml"
    )
    items = run([site.url_for("/feed.xml")])
    got = units(items)
    assert sorted(got) == [f"{base}/news/1.html", f"{base}/news/2.html"]
    first, second = got[f"{base}/news/1.html"], got[f"{base}/news/2.html"]
    assert first.url == f"{base}/news/1.html"  # relative link resolved against the feed
    assert first.title == "First & foremost"
    assert first.published == datetime(2025, 6, 10, 2, 5, 6, tzinfo=UTC)
    assert second.published == datetime(2025, 6, 11, 23, 59, 59, tzinfo=UTC)
    assert first.published_source == "feed"
    assert first.charset == "utf-8" and first.content_type == "text/html"
    assert first.data is not None and b"<p>The first article body.</p>" in first.data
    assert f'src="{base}/img/1.jpg"'.encode() in first.data  # relative URIs in content too
    assert f'og:image" content="{base}/img/lead1.jpg"'.encode() in first.data
    assert "Second body, with 中文." in (second.data or b"").decode("utf-8")
    assert first.fingerprint and first.fingerprint != second.fingerprint
    assert first.meta["feed"] == site.url_for("/feed.xml")
    assert paths(site) == ["/robots.txt", "/feed.xml"]  # no page was fetched
    [validator] = [item for item in items if isinstance(item, Validator)]
    assert validator.url == site.url_for("/feed.xml")


def test_atom_feed(site: HTTPServer) -> None:
    site.expect_request("/atom").respond_with_data(ATOM, content_type="application/atom+xml")
    got = units(run([site.url_for("/atom")]))
    one = got[site.url_for("/articles/one")]
    assert one.title == "Atom one"  # an HTML title's text
    assert one.published == datetime(2025, 6, 12, 8, 30, 15, 250000, tzinfo=UTC)
    assert b"<p>Atom body one.</p>" in (one.data or b"")
    two = got["https://elsewhere.example/two"]  # never fetched: the content is in the feed
    assert two.published == datetime(2025, 6, 13, tzinfo=UTC)  # updated, when no published
    assert b"Atom body two." in (two.data or b"")


def test_summary_feed_fetches_links(site: HTTPServer) -> None:
    site.expect_request("/teasers").respond_with_data(SUMMARY_RSS, content_type="text/xml")
    site.expect_request("/story/1").respond_with_data(
        page("Story one"), content_type="text/html; charset=utf-8", headers={"ETag": '"s1"'}
    )
    site.expect_request("/story/2", query_string="x=1").respond_with_data(
        page("Story two"), content_type="text/html"
    )
    got = units(run([site.url_for("/teasers")]))
    one = got[site.url_for("/story/1")]
    assert one.data == page("Story one").encode()
    assert (one.title, one.published_source) == ("Teaser one", "feed")
    assert one.published == datetime(2025, 6, 2, 8, tzinfo=UTC)
    assert one.charset == "utf-8" and one.meta["etag"] == '"s1"'
    assert one.fingerprint == hashlib.sha256(one.data).hexdigest()
    two = got[site.url_for("/story/2") + "?x=1"]  # fragment dropped, query kept
    assert two.title == "Teaser two" and two.charset is None


def test_page_follows_redirect_and_keeps_requested_source(site: HTTPServer) -> None:
    site.expect_request("/old").respond_with_data("", status=301, headers={"Location": "/new"})
    site.expect_request("/new").respond_with_data(page("moved"), content_type="text/html")
    [unit] = units(run([site.url_for("/old")])).values()
    assert (unit.source, unit.url) == (site.url_for("/old"), site.url_for("/new"))


@pytest.mark.parametrize("with_header", [True, False])
def test_gbk_page_charset_from_header_only(site: HTTPServer, with_header: bool) -> None:
    body = '<html><head><meta charset="gbk"><title>新闻</title></head><body>中文内容</body></html>'
    content_type = "text/html; charset=GBK" if with_header else "text/html"
    site.expect_request("/gbk").respond_with_data(body.encode("gbk"), content_type=content_type)
    [unit] = units(run([site.url_for("/gbk")])).values()
    assert unit.data == body.encode("gbk")  # bytes untouched: decoding is the transform's
    assert unit.charset == ("gbk" if with_header else None)
    assert unit.content_type == "text/html"


def test_sitemap_index_to_sitemaps_to_pages(site: HTTPServer) -> None:
    ns = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
    index = (
        f'<?xml version="1.0"?><sitemapindex {ns}>'
        "<sitemap><loc>/sitemaps/a.xml</loc></sitemap>"
        "<sitemap><loc>/sitemaps/b.xml.gz</loc></sitemap></sitemapindex>"
    )
    sitemap_a = f"<urlset {ns}><url><loc>/p/1</loc></url><url><loc>/p/2</loc></url></urlset>"
    sitemap_b = f"<urlset {ns}><url><loc>/p/3</loc></url><url><loc>/p/1</loc></url></urlset>"
    site.expect_request("/sitemap.xml").respond_with_data(index, content_type="application/xml")
    site.expect_request("/sitemaps/a.xml").respond_with_data(sitemap_a, content_type="text/xml")
    site.expect_request("/sitemaps/b.xml.gz").respond_with_data(
        gzip.compress(sitemap_b.encode()), content_type="application/x-gzip"
    )
    for n in (1, 2, 3):
        site.expect_request(f"/p/{n}").respond_with_data(page(f"p{n}"), content_type="text/html")
    items = run([site.url_for("/sitemap.xml")])
    got = units(items)
    assert sorted(got) == [site.url_for(f"/p/{n}") for n in (1, 2, 3)]  # /p/1 once
    assert got[site.url_for("/p/3")].meta["sitemap"] == site.url_for("/sitemaps/b.xml.gz")
    validators = {item.url for item in items if isinstance(item, Validator)}
    assert validators == {
        site.url_for(p) for p in ("/sitemap.xml", "/sitemaps/a.xml", "/sitemaps/b.xml.gz")
    }
    assert paths(site).count("/p/1") == 1
    assert not [item for item in items if isinstance(item, Rejection)]


def test_google_news_sitemap(site: HTTPServer) -> None:
    news = """<?xml version="1.0" encoding="UTF-8"?>
    <urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
            xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
      <url><loc>/world/42</loc><news:news>
        <news:publication><news:name>Daily</news:name><news:language>en</news:language>
        </news:publication>
        <news:publication_date>2025-06-01T12:30:45+02:00</news:publication_date>
        <news:title>Big &amp; news</news:title></news:news></url>
    </urlset>"""
    site.expect_request("/news-sitemap.xml").respond_with_data(news, content_type="text/xml")
    site.expect_request("/world/42").respond_with_data(page("w"), content_type="text/html")
    [unit] = units(run([site.url_for("/news-sitemap.xml")])).values()
    assert unit.title == "Big & news"
    assert unit.published == datetime(2025, 6, 1, 10, 30, 45, tzinfo=UTC)
    assert unit.published_source == "sitemap"


def test_list_file_of_sources(site: HTTPServer, tmp_path: Path) -> None:
    site.expect_request("/a").respond_with_data(page("a"), content_type="text/html")
    listing = tmp_path / "feeds.txt"
    listing.write_text(f"# my sources\n{site.url_for('/a')}  # a page\n\nmailto:x@y.z\n")
    items = run([str(listing), "ftp://example.com/file"])
    assert list(units(items)) == [site.url_for("/a")]
    reasons = sorted((r.source, r.reason) for r in items if isinstance(r, Rejection))
    assert reasons == [("ftp://example.com/file", "bad_url"), ("mailto:x@y.z", "bad_url")]


def test_non_html_is_rejected(site: HTTPServer) -> None:
    site.expect_request("/logo.png").respond_with_data(b"\x89PNG\r\n", content_type="image/png")
    [rejection] = run([site.url_for("/logo.png")])
    assert isinstance(rejection, Rejection) and rejection.reason == "not_html"


def _conditional(
    etag: str, last_modified: str, body: str, seen: list[dict[str, str]]
) -> Callable[[Request], Response]:
    def handler(request: Request) -> Response:
        seen.append({k.lower(): v for k, v in request.headers.items()})
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        headers = {"ETag": etag, "Last-Modified": last_modified}
        return Response(body, content_type="text/html; charset=utf-8", headers=headers)

    return handler


def remember(items: list[object], into: dict[str, Validator]) -> None:
    """What the loader keeps: a Validator item, or a unit's meta and fingerprint."""
    for item in items:
        if isinstance(item, Validator):
            into[item.url] = item
        elif isinstance(item, WorkUnit):
            etag, modified = item.meta.get("etag"), item.meta.get("last_modified")
            into[item.source] = Validator(item.source, etag, modified, item.fingerprint)


def test_second_poll_is_conditional_and_yields_not_modified(site: HTTPServer) -> None:
    feed_seen: list[dict[str, str]] = []
    story_seen: list[dict[str, str]] = []
    lm = "Mon, 02 Jun 2025 10:00:00 GMT"
    site.expect_request("/teasers").respond_with_handler(
        _conditional('"feed-v1"', lm, SUMMARY_RSS, feed_seen)
    )
    site.expect_request("/story/1").respond_with_handler(
        _conditional('"one"', lm, page("one"), story_seen)
    )
    site.expect_request("/story/2").respond_with_data(page("two"), content_type="text/html")
    validators: dict[str, Validator] = {}
    first_stats, second_stats = WebStats(), WebStats()
    first = run([site.url_for("/teasers")], stats=first_stats)
    assert len(units(first)) == 2
    remember(first, validators)
    site.clear_log()

    second = run([site.url_for("/teasers")], validators, stats=second_stats)
    assert second == [NotModified(site.url_for("/teasers"))]
    assert paths(site) == ["/robots.txt", "/teasers"]
    assert feed_seen[-1]["if-none-match"] == '"feed-v1"'
    assert feed_seen[-1]["if-modified-since"] == lm
    assert (first_stats.requests, second_stats.requests) == (4, 2)


def test_changed_feed_skips_known_items_and_revalidates_pages(site: HTTPServer) -> None:
    base = site.url_for("").rstrip("/")
    version = {"feed": RSS.format(base=base)}
    site.expect_request("/feed.xml").respond_with_handler(
        lambda _r: Response(version["feed"], content_type="application/rss+xml")
    )
    story_seen: list[dict[str, str]] = []
    site.expect_request("/story/1").respond_with_handler(
        _conditional('"one"', "Mon, 02 Jun 2025 10:00:00 GMT", page("one"), story_seen)
    )
    validators: dict[str, Validator] = {}
    remember(run([site.url_for("/feed.xml")]), validators)

    # Unchanged body (no ETag from this server): same hash, nothing to do.
    assert run([site.url_for("/feed.xml")], validators) == [NotModified(site.url_for("/feed.xml"))]

    # A new summary item appears; the two full-content items are unchanged.
    new_item = "<item><title>New</title><link>/story/1</link><description>s</description></item>"
    version["feed"] = version["feed"].replace("</channel>", new_item + "</channel>")
    second = run([site.url_for("/feed.xml")], validators)
    assert set(units(second)) == {site.url_for("/story/1")}
    assert {i.source for i in second if isinstance(i, NotModified)} == {
        f"{base}/news/1.html",
        f"{base}/news/2.html",
    }
    remember(second, validators)
    site.clear_log()

    # Third poll after a content change elsewhere: the known page is asked conditionally.
    version["feed"] = version["feed"].replace("<title>News</title>", "<title>News!</title>")
    third = run([site.url_for("/feed.xml")], validators)
    assert NotModified(site.url_for("/story/1")) in third
    assert story_seen[-1]["if-none-match"] == '"one"'
    assert not units(third)


def test_consumer_stopping_early_ends_the_worker_thread(site: HTTPServer) -> None:
    for n in range(20):
        site.expect_request(f"/p/{n}").respond_with_data(page(str(n)), content_type="text/html")
    generator = discover_web([site.url_for(f"/p/{n}") for n in range(20)], options(), {})
    first = next(generator)
    assert isinstance(first, WorkUnit)
    generator.close()
    assert not [t for t in threading.enumerate() if t.name == "article-etl-web"]
    assert len(site.log) < 20 + 1


def test_feed_items_without_usable_links_are_rejected(site: HTTPServer) -> None:
    feed = """<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
    <channel><title>x</title>
      <item><title>No link</title><content:encoded>&lt;p&gt;a&lt;/p&gt;</content:encoded></item>
      <item><title>Script</title><link>javascript:alert(1)</link>
        <content:encoded>&lt;p&gt;b&lt;/p&gt;</content:encoded></item>
    </channel></rss>"""
    site.expect_request("/odd.xml").respond_with_data(feed, content_type="application/rss+xml")
    items = run([site.url_for("/odd.xml")])
    reasons = sorted(item.reason for item in items if isinstance(item, Rejection))
    assert reasons == ["bad_url", "no_url"]
    assert not units(items)


def test_unreadable_feed_is_a_parse_error(site: HTTPServer) -> None:
    site.expect_request("/broken").respond_with_data(
        "this is not XML at all", content_type="application/rss+xml"
    )
    [refused] = run([site.url_for("/broken")])
    assert isinstance(refused, Rejection) and refused.reason == "parse_error"
