"""`ingest` on a feed served by a real HTTP server on 127.0.0.1, end to end into DuckDB."""

from __future__ import annotations

import contextlib
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from flows.cli import main
from flows.load.warehouse import connect

from .items import PARAGRAPHS

BODY = "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>City news</title><link>{base}/</link>
<item>
  <title>Council approves the budget</title>
  <link>/news/budget.html?utm_source=rss</link>
  <pubDate>Tue, 10 Jun 2025 04:05:06 +0200</pubDate>
  <content:encoded><![CDATA[<img src="/img/budget.jpg">{body}]]></content:encoded>
</item>
<item>
  <title>Libraries to open on Sundays</title>
  <link>{base}/news/libraries.html</link>
  <pubDate>Wed, 11 Jun 2025 23:59:59 GMT</pubDate>
  <description>Only a teaser.</description>
</item>
</channel></rss>"""
PAGE = """<html><head><title>Libraries | City</title>
<meta property="og:image" content="/img/lib.png"></head>
<body><nav><a href="/">Home</a> <a href="/news">News</a></nav>
<article><h1>Libraries to open on Sundays</h1>{body}</article>
<footer>© City news</footer></body></html>"""


def _serve(httpserver: HTTPServer) -> list[Request]:
    seen: list[Request] = []
    base = httpserver.url_for("").rstrip("/")

    def feed(request: Request) -> Response:
        seen.append(request)
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304)
        return Response(
            FEED.format(base=base, body=BODY),
            headers={"ETag": '"v1"'},
            content_type="application/rss+xml",
        )

    def page(request: Request) -> Response:
        seen.append(request)
        return Response(PAGE.format(body=BODY), content_type="text/html; charset=utf-8")

    httpserver.expect_request("/feed.xml").respond_with_handler(feed)
    httpserver.expect_request("/news/libraries.html").respond_with_handler(page)
    httpserver.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
    return seen


def _ingest(url: str, warehouse: Path) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(
            [
                "ingest",
                url,
                "--warehouse",
                str(warehouse),
                "--json",
                "--allow-private-network",
                "--min-delay",
                "0",
            ]
        )
    assert code == 0
    return json.loads(out.getvalue())


@pytest.mark.timeout(120)
@pytest.mark.usefixtures("prefect_api")
def test_feed_loads_every_item_then_polls_conditionally(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    seen = _serve(httpserver)
    url = httpserver.url_for("/feed.xml")
    base = httpserver.url_for("").rstrip("/")
    warehouse = tmp_path / "wh"

    first = _ingest(url, warehouse)
    assert (first["inputs"], first["new"], first["rejected"]) == (2, 2, 0)
    con = connect(warehouse, read_only=True)
    try:
        rows = con.execute(
            'SELECT url, "timestamp", title, image, body FROM articles ORDER BY url'
        ).fetchall()
        sources = con.execute("SELECT timestamp_source FROM lineage ORDER BY url").fetchall()
        titled = con.execute("SELECT title_source FROM lineage ORDER BY url").fetchall()
    finally:
        con.close()
    budget, libraries = rows
    assert budget[:4] == (
        f"{base}/news/budget.html",
        datetime(2025, 6, 10, 2, 5, 6, tzinfo=UTC),
        "Council approves the budget",
        f"{base}/img/budget.jpg",
    )
    assert libraries[:4] == (
        f"{base}/news/libraries.html",
        datetime(2025, 6, 11, 23, 59, 59, tzinfo=UTC),
        "Libraries to open on Sundays",
        f"{base}/img/lib.png",
    )
    for _, _, title, _, body in rows:
        # A page's text is kept as trafilatura extracts it: its headline may lead it.
        assert body.removeprefix(f"{title}\n").startswith(PARAGRAPHS[0])
        assert "Home" not in body and "©" not in body
    assert sources == [("feed",), ("feed",)]
    assert titled == [("source",), ("source",)]  # the feed items' titles
    assert [r.path for r in seen] == ["/feed.xml", "/news/libraries.html"]

    seen.clear()
    second = _ingest(url, warehouse)
    assert (second["inputs"], second["new"], second["skipped_unchanged"]) == (1, 0, 1)
    assert [(r.path, r.headers.get("If-None-Match")) for r in seen] == [("/feed.xml", '"v1"')]
