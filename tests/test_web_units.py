"""Pure parts of flows.extract.web: no network."""

from __future__ import annotations

import gzip
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows.core.urls import url_problem
from flows.extract.web.body import BoundedDecoder, TooLarge, gunzip
from flows.extract.web.feeds import FeedError, parse_feed
from flows.extract.web.fetch import parse_content_type, parse_retry_after
from flows.extract.web.netguard import blocked_reason
from flows.extract.web.robots import parse_robots
from flows.extract.web.sitemaps import parse_sitemap, parse_w3c_datetime
from flows.extract.web.sniff import Kind, classify, root_element
from flows.extract.web.sources import expand_sources, is_web_source
from flows.extract.web.xmlsafe import UnsafeXML, ensure_safe_xml

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY a "lollollollollollollollollollol">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
 <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
 <!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
 <!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">
 <!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;">
 <!ENTITY i "&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;">
]>
<rss version="2.0"><channel><title>&i;</title><item><title>&i;</title></item></channel></rss>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>&x;</title></channel></rss>"""


@pytest.mark.parametrize(
    ("address", "blocked"),
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),  # cloud metadata
        ("100.64.0.1", True),  # carrier-grade NAT
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("240.0.0.1", True),
        ("::1", True),
        ("fe80::1%eth0", True),
        ("fc00::1", True),
        ("::ffff:127.0.0.1", True),  # IPv4-mapped
        ("2002:7f00:1::", True),  # 6to4 of 127.0.0.1
        ("64:ff9b::a00:1", True),  # NAT64 of 10.0.0.1
        ("93.184.216.34", False),
        ("2606:4700::6810:84e5", False),
    ],
)
def test_blocked_reason(address: str, blocked: bool) -> None:
    assert (blocked_reason(address) is not None) is blocked


def test_gzip_bomb_stops_at_limit() -> None:
    bomb = gzip.compress(b"\0" * 20_000_000)
    assert len(bomb) < 40_000
    decoder = BoundedDecoder("gzip", 1_000_000)
    with pytest.raises(TooLarge):
        decoder.decode(bomb)
    assert decoder.size <= 1_000_001  # stopped at the limit, never inflated whole


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS])
def test_deflate_wrapped_or_raw(wbits: int) -> None:
    compressor = zlib.compressobj(wbits=wbits)
    data = compressor.compress(b"hello " * 1000) + compressor.flush()
    decoder = BoundedDecoder("deflate", 10_000)
    out = b"".join(decoder.decode(data[i : i + 7]) for i in range(0, len(data), 7))
    assert out + decoder.flush() == b"hello " * 1000


def test_gzip_members_and_identity() -> None:
    assert gunzip(gzip.compress(b"a") + gzip.compress(b"b"), 10) == b"ab"
    assert BoundedDecoder("identity", 3).decode(b"abc") == b"abc"
    with pytest.raises(TooLarge):
        BoundedDecoder("", 3).decode(b"abcd")


@pytest.mark.parametrize("doc", [BILLION_LAUGHS, XXE, BILLION_LAUGHS.decode().encode("utf-16")])
def test_unsafe_xml_refused_quickly(doc: bytes) -> None:
    with pytest.raises(UnsafeXML):
        ensure_safe_xml(doc)
    with pytest.raises(FeedError):
        parse_feed(doc, "http://example.com/feed", None)


def test_unsafe_xml_in_encoding_expat_lacks() -> None:
    doc = '<?xml version="1.0" encoding="gbk"?><!DOCTYPE r [<!ENTITY x "y">]><rss/>'
    with pytest.raises(UnsafeXML):
        ensure_safe_xml(doc.encode("gbk"))


def test_plain_doctype_is_safe() -> None:
    rss091 = (
        b'<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"'
        b' "http://my.netscape.com/publish/formats/rss-0.91.dtd"><rss version="0.91"><channel>'
        b"<item><title>t</title><link>http://e.com/1</link></item></channel></rss>"
    )
    ensure_safe_xml(rss091)
    assert [i.link for i in parse_feed(rss091, "http://e.com/", None)] == ["http://e.com/1"]


def test_gbk_feed_decoded_by_declaration() -> None:
    doc = (
        '<?xml version="1.0" encoding="gbk"?><rss version="2.0"><channel><item>'
        "<title>中文标题</title><link>/x</link></item></channel></rss>"
    ).encode("gbk")
    [item] = parse_feed(doc, "http://e.com/feed", None)
    assert (item.title, item.link) == ("中文标题", "http://e.com/x")


@pytest.mark.parametrize(
    ("content_type", "body", "kind"),
    [
        ("application/rss+xml", b'<?xml version="1.0"?><rss/>', Kind.FEED),
        ("text/xml", b"\xef\xbb\xbf<?xml version='1.0'?>\n<!-- c --><feed xmlns='x'/>", Kind.FEED),
        ("text/html", b"<rdf:RDF xmlns:rdf='r'></rdf:RDF>", Kind.FEED),  # mislabelled RSS 1.0
        ("application/xml", b"<?xml version='1.0'?><urlset/>", Kind.SITEMAP),
        (None, b"<sitemapindex xmlns='s'/>", Kind.SITEMAP),
        ("text/html", b"<!DOCTYPE html><html><body>x</body></html>", Kind.PAGE),
        (None, b"<p>fragment</p>", Kind.PAGE),
        ("application/xml", b"<?xml version='1.0'?><html xmlns='xhtml'/>", Kind.PAGE),
        ("image/png", b"\x89PNG\r\n", Kind.OTHER),
        ("application/xml", b"<newsml/>", Kind.OTHER),
    ],
)
def test_classify(content_type: str | None, body: bytes, kind: Kind) -> None:
    assert classify(content_type, body) is kind


def test_root_element_skips_doctype_subset() -> None:
    assert root_element(b'<!DOCTYPE x [ <!ELEMENT a (b)> ]>\n<x:urlset xmlns:x="y"/>') == "urlset"


def test_robots_rules() -> None:
    rules = parse_robots("User-agent: *\nDisallow: /private/\nCrawl-delay: 2\n", "article-etl/0.1")
    assert rules.delay_s == 2.0
    assert not rules.allows("article-etl/0.1", "http://e.com/private/x")
    assert rules.allows("article-etl/0.1", "http://e.com/public")
    named = parse_robots("User-agent: article-etl\nDisallow: /\n\nUser-agent: *\nAllow: /\n", "x")
    assert not named.allows("article-etl/0.1 (+https://example.invalid)", "http://e.com/a")
    assert named.allows("otherbot/1.0", "http://e.com/a")


def test_robots_wildcards_and_longest_match() -> None:
    # RFC 9309: wildcards match, and the longest matching rule wins over the first one.
    rules = parse_robots(
        "User-agent: *\nDisallow: /*?share=\nAllow: /news/\nDisallow: /news/private\n", "x"
    )
    assert not rules.allows("x", "https://e.com/a?share=1")
    assert rules.allows("x", "https://e.com/a?page=1")
    assert not rules.allows("x", "https://e.com/news/private/x")
    assert rules.allows("x", "https://e.com/news/today")


def test_small_parsers() -> None:
    assert parse_content_type('text/html; charset="GBK"') == ("text/html", "gbk")
    assert parse_content_type("text/html") == ("text/html", None)
    assert parse_content_type(None) == (None, None)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("garbage") is None
    assert 0 <= (parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") or 0) < 1
    assert url_problem("ftp://e.com/x") is not None
    assert url_problem("http://e.com:99999/") is not None
    assert url_problem("https:///nohost") is not None
    assert url_problem("https://e.com/a b") is not None  # could never be an article key
    assert url_problem("http://[::1]:8080/x") is None
    assert parse_w3c_datetime("2024-05-01T10:00+02:00") == datetime(2024, 5, 1, 8, tzinfo=UTC)
    assert parse_w3c_datetime("2024-05-01") == datetime(2024, 5, 1, tzinfo=UTC)
    assert parse_w3c_datetime("yesterday") is None


def test_sitemap_ignores_image_loc_and_titles() -> None:
    doc = b"""<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
      xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
      <url><loc>/a</loc><image:image><image:loc>/i.jpg</image:loc>
      <image:title>img</image:title></image:image></url></urlset>"""
    [entry] = parse_sitemap(doc, "https://e.com/s.xml")
    assert (entry.loc, entry.title, entry.is_sitemap) == ("https://e.com/a", None, False)


def test_sources(tmp_path: Path) -> None:
    urls = tmp_path / "feeds.txt"
    urls.write_text("# feeds\n\nhttps://e.com/feed  # main\nhttps://e.com/p#frag\nnot a url\n")
    opml = tmp_path / "subs.opml"
    opml.write_text(
        '<opml version="2.0"><body><outline text="x">'
        '<outline type="rss" xmlUrl="https://e.com/rss"/></outline></body></opml>'
    )
    notes = tmp_path / "notes.txt"
    notes.write_text("just words\n")
    assert is_web_source("https://e.com/feed")
    assert is_web_source("ftp://e.com/feed")  # reaches discover_web, rejected bad_url there
    assert is_web_source(str(urls))
    assert is_web_source(str(opml))
    assert not is_web_source(str(notes))
    assert not is_web_source(str(tmp_path / "page.html"))
    out = list(expand_sources([str(urls), str(opml), "https://e.com/x", "missing.txt"]))
    assert out[:5] == [
        "https://e.com/feed",
        "https://e.com/p#frag",
        "not a url",
        "https://e.com/rss",
        "https://e.com/x",
    ]
    assert getattr(out[5], "reason", None) == "bad_url"


def test_user_agent_names_the_contact_when_set() -> None:
    from flows import __version__
    from flows.core.settings import user_agent

    assert user_agent("") == f"article-etl/{__version__}"
    contact = "mailto:ops@news.test"
    assert user_agent(contact) == f"article-etl/{__version__} (+{contact})"
