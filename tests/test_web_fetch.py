"""Politeness and faults of the web fetcher, against real servers on 127.0.0.1."""

from __future__ import annotations

import gzip
import itertools
import threading
import time
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

import flows.extract.web.netguard as netguard
from flows.core.units import Rejection, WorkUnit
from flows.extract.web import WebOptions, WebStats, discover_web

pytestmark = pytest.mark.timeout(30)

# How much later than our client sends it a request may reach the server's handler on a
# busy machine (connect, thread start-up).
JITTER_S = 0.1

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY a "lollollollollollollollollollol">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
 <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
 <!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
 <!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">
 <!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;">
]>
<rss version="2.0"><channel><title>&h;</title>
<item><title>&h;</title><link>/x</link><description>&h;</description></item></channel></rss>"""


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


def run(*urls: str, **overrides: object) -> list[object]:
    return list(discover_web(list(urls), options(**overrides), {}))


def only(items: list[object]) -> object:
    assert len(items) == 1, items
    return items[0]


def rejection(items: list[object]) -> Rejection:
    item = only(items)
    assert isinstance(item, Rejection), item
    return item


def paths(server: HTTPServer) -> list[str]:
    return [request.path for request, _ in server.log]


@pytest.fixture
def site(httpserver: HTTPServer) -> HTTPServer:
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    return httpserver


@pytest.fixture
def threaded() -> Iterator[HTTPServer]:
    """A server that handles requests concurrently (the default one is serial)."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    server.expect_request("/robots.txt").respond_with_data("", status=404)
    yield server
    server.clear()
    server.stop()


def page(text: str = "x") -> str:
    return f"<html><body><p>{text}</p></body></html>"


def test_robots_disallow_is_obeyed_without_requesting_the_page(httpserver: HTTPServer) -> None:
    robots = "User-agent: *\nDisallow: /private/\n"
    httpserver.expect_request("/robots.txt").respond_with_data(robots, content_type="text/plain")
    httpserver.expect_request("/public").respond_with_data(page(), content_type="text/html")
    items = run(httpserver.url_for("/private/secret"), httpserver.url_for("/public"))
    [refused] = [item for item in items if isinstance(item, Rejection)]
    assert (refused.source, refused.reason) == (
        httpserver.url_for("/private/secret"),
        "robots_disallowed",
    )
    assert [item.source for item in items if isinstance(item, WorkUnit)] == [
        httpserver.url_for("/public")
    ]
    assert paths(httpserver).count("/robots.txt") == 1  # cached for the run
    assert "/private/secret" not in paths(httpserver)


def test_robots_user_agent_group_and_unreachable_robots(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/robots.txt").respond_with_data("", status=503)
    refused = rejection(run(httpserver.url_for("/a"), retries=1))
    assert refused.reason == "robots_disallowed" and "unreachable" in refused.detail
    assert paths(httpserver) == ["/robots.txt", "/robots.txt"]  # retried once, page untouched


def test_crawl_delay_spaces_requests(httpserver: HTTPServer) -> None:
    starts: list[float] = []

    def handler(_request: Request) -> Response:
        starts.append(time.monotonic())
        return Response(page(), content_type="text/html")

    robots = "User-agent: *\nCrawl-delay: 1\n"
    httpserver.expect_request("/robots.txt").respond_with_data(robots)
    httpserver.expect_request("/p").respond_with_handler(handler)
    items = run(*(httpserver.url_for("/p") + f"?n={n}" for n in range(3)))
    assert len(items) == 3 and all(isinstance(item, WorkUnit) for item in items)
    # Starts are spaced exactly on our side; the server sees them through some jitter.
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(gap >= 1 - JITTER_S for gap in gaps), gaps
    assert starts[-1] - starts[0] >= 2 - JITTER_S


def test_min_delay_per_host(site: HTTPServer) -> None:
    starts: list[float] = []

    def handler(_request: Request) -> Response:
        starts.append(time.monotonic())
        return Response(page(), content_type="text/html")

    site.expect_request("/p").respond_with_handler(handler)
    run(*(site.url_for("/p") + f"?n={n}" for n in range(4)), min_delay_s=0.2)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(gaps) == 3 and all(gap >= 0.2 - JITTER_S for gap in gaps), gaps
    assert starts[-1] - starts[0] >= 0.6 - JITTER_S


def sequence(*responses: Response) -> tuple[list[float], object]:
    """A handler answering with ``responses`` in turn (the last one repeats)."""
    times: list[float] = []

    def handler(_request: Request) -> Response:
        times.append(time.monotonic())
        return responses[min(len(times), len(responses)) - 1]

    return times, handler


def test_429_with_retry_after_then_200(site: HTTPServer) -> None:
    times, handler = sequence(
        Response("slow down", status=429, headers={"Retry-After": "1"}),
        Response(page("ok"), content_type="text/html"),
    )
    site.expect_request("/p").respond_with_handler(handler)
    unit = only(run(site.url_for("/p")))
    assert isinstance(unit, WorkUnit) and unit.data == page("ok").encode()
    assert len(times) == 2 and times[1] - times[0] >= 0.95  # Retry-After honoured


def test_500_then_200_is_retried(site: HTTPServer) -> None:
    times, handler = sequence(
        Response("oops", status=500), Response(page("ok"), content_type="text/html")
    )
    site.expect_request("/p").respond_with_handler(handler)
    assert isinstance(only(run(site.url_for("/p"))), WorkUnit)
    assert len(times) == 2


def test_retry_after_beyond_the_cap_gives_up_at_once(site: HTTPServer) -> None:
    site.expect_request("/p").respond_with_data(
        "later", status=429, headers={"Retry-After": "3600"}
    )
    refused = rejection(run(site.url_for("/p")))
    assert refused.reason == "http_error" and "Retry-After" in refused.detail
    assert paths(site).count("/p") == 1  # given up at once: not waited for, not retried


def test_persistent_503_gives_up_after_retries(site: HTTPServer) -> None:
    site.expect_request("/p").respond_with_data("down", status=503)
    refused = rejection(run(site.url_for("/p"), retries=2))
    assert refused.reason == "http_error" and "503" in refused.detail
    assert paths(site).count("/p") == 3


def test_404_is_not_retried(site: HTTPServer) -> None:
    site.expect_request("/gone").respond_with_data("no", status=404)
    refused = rejection(run(site.url_for("/gone")))
    assert (refused.reason, refused.detail) == ("http_error", "status 404")
    assert paths(site).count("/gone") == 1


def test_connection_refused_is_retried_then_rejected() -> None:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    url = server.url_for("/p")
    server.stop()  # nothing listens on the port now
    refused = rejection(run(url, retries=2))
    assert refused.reason == "fetch_error" and "robots.txt" in refused.detail
    # without robots.txt in the way, the page request itself is retried and rejected
    stats = WebStats()
    refused = rejection(
        list(discover_web([url], options(retries=2, obey_robots=False), {}, stats=stats))
    )
    assert refused.reason == "fetch_error" and "ConnectError" in refused.detail
    assert (stats.requests, stats.retries) == (3, 2)


def test_hanging_response_times_out(threaded: HTTPServer) -> None:
    release = threading.Event()

    def hang(_request: Request) -> Response:
        release.wait(10)
        return Response(page(), content_type="text/html")

    threaded.expect_request("/hang").respond_with_handler(hang)
    try:
        refused = rejection(run(threaded.url_for("/hang"), read_timeout_s=0.5))
    finally:
        release.set()
    # A client that waited would get the page after 10 s: only the read timeout rejects it.
    assert refused.reason == "timeout"


def test_dripping_body_hits_the_attempt_deadline(threaded: HTTPServer) -> None:
    def drip(_request: Request) -> Response:
        def chunks() -> Iterator[bytes]:
            for _ in range(40):
                time.sleep(0.2)
                yield b"<p>drop</p>"

        return Response(chunks(), content_type="text/html")

    threaded.expect_request("/drip").respond_with_handler(drip)
    # Each drop comes well within the read timeout; only the attempt's deadline stops it
    # (a drip that ran to its end would be a page, not a timeout).
    refused = rejection(run(threaded.url_for("/drip"), read_timeout_s=0.5, connect_timeout_s=0.5))
    assert refused.reason == "timeout"


@pytest.mark.parametrize("chunked", [False, True])
def test_oversize_body_is_cut_off(site: HTTPServer, chunked: bool) -> None:
    body = b"<p>" + b"x" * 50_000 + b"</p>"
    if chunked:  # no Content-Length: the limit is found while streaming
        site.expect_request("/big").respond_with_handler(
            lambda _r: Response(iter([body[i : i + 4096] for i in range(0, len(body), 4096)]))
        )
    else:
        site.expect_request("/big").respond_with_data(body, content_type="text/html")
    refused = rejection(run(site.url_for("/big"), max_bytes=10_000))
    assert refused.reason == "too_large"


def test_gzip_bomb_is_cut_off_quickly(site: HTTPServer) -> None:
    bomb = gzip.compress(b" " * 30_000_000, compresslevel=9)
    assert len(bomb) < 50_000
    site.expect_request("/bomb").respond_with_data(
        bomb, content_type="text/html", headers={"Content-Encoding": "gzip"}
    )
    refused = rejection(run(site.url_for("/bomb"), max_bytes=1_000_000))
    assert refused.reason == "too_large"


def test_gzip_page_within_limit(site: HTTPServer) -> None:
    site.expect_request("/gz").respond_with_data(
        gzip.compress(page("zipped").encode()),
        content_type="text/html",
        headers={"Content-Encoding": "gzip"},
    )
    unit = only(run(site.url_for("/gz")))
    assert isinstance(unit, WorkUnit) and unit.data == page("zipped").encode()


def test_redirect_loop_and_too_many_redirects(site: HTTPServer) -> None:
    site.expect_request("/a").respond_with_data("", status=302, headers={"Location": "/b"})
    site.expect_request("/b").respond_with_data("", status=302, headers={"Location": "/a"})
    for n in range(10):
        site.expect_request(f"/r{n}").respond_with_data(
            "", status=301, headers={"Location": f"/r{n + 1}"}
        )
    loop = rejection(run(site.url_for("/a")))
    assert (loop.reason, loop.detail.startswith("redirect loop")) == ("http_error", True)
    chain = rejection(run(site.url_for("/r0"), max_redirects=3))
    assert chain.reason == "http_error" and "too many redirects" in chain.detail
    assert "/r4" not in paths(site)


def test_xml_bomb_feed_is_rejected_quickly(site: HTTPServer) -> None:
    site.expect_request("/bomb.xml").respond_with_data(
        BILLION_LAUGHS, content_type="application/rss+xml"
    )
    refused = rejection(run(site.url_for("/bomb.xml")))
    assert refused.reason == "parse_error" and "unsafe XML" in refused.detail
    assert "/x" not in paths(site)


def test_loopback_is_blocked_without_the_allow_flag(site: HTTPServer) -> None:
    site.expect_request("/p").respond_with_data(page(), content_type="text/html")
    for url in (site.url_for("/p"), site.url_for("/p").replace("localhost", "127.0.0.1")):
        refused = rejection(run(url, allow_private_network=False))
        assert refused.reason == "blocked_address"
    assert site.log == []  # not even robots.txt was requested


def test_redirect_hop_to_a_blocked_address(
    site: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pretend 127.0.0.1 is public and 127.0.0.2 is not: the second hop must be refused.
    monkeypatch.setattr(netguard, "blocked_reason", lambda a: "test" if a == "127.0.0.2" else None)
    target = f"http://127.0.0.2:{site.port}/inside"
    site.expect_request("/go").respond_with_data("", status=302, headers={"Location": target})
    url = f"http://127.0.0.1:{site.port}/go"
    refused = rejection(run(url, allow_private_network=False))
    assert refused.reason == "blocked_address" and "127.0.0.2" in refused.detail
    assert "/go" in paths(site)


def test_per_host_concurrency_never_exceeds_the_limit(threaded: HTTPServer) -> None:
    lock = threading.Lock()
    state = {"now": 0, "max": 0}

    def slow(_request: Request) -> Response:
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.15)
        with lock:
            state["now"] -= 1
        return Response(page(), content_type="text/html")

    threaded.expect_request("/p").respond_with_handler(slow)
    urls = [threaded.url_for("/p") + f"?n={n}" for n in range(10)]
    items = run(*urls, per_host_concurrency=2)
    assert sum(isinstance(item, WorkUnit) for item in items) == 10
    assert state["max"] == 2  # concurrent, but never above the limit

    state["max"] = 0
    run(*(url + "&again" for url in urls[:4]), per_host_concurrency=3, global_concurrency=1)
    assert state["max"] == 1  # the global limit binds too


def test_a_host_that_keeps_asking_to_wait_is_given_up_at_the_cap(threaded: HTTPServer) -> None:
    """20 URLs answered 429 Retry-After 2 for ever: the host's waiting stops at the run's cap
    and its URLs are rejected host_backoff (transient) instead of stretching the poll."""
    threaded.expect_request("/p").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "2"}
    )
    urls = [threaded.url_for(f"/p?n={i}") for i in range(20)]
    items = run(*urls, host_wait_cap_s=3.0, retries=3)
    assert len(items) == 20 and all(isinstance(i, Rejection) for i in items)
    reasons = {i.reason for i in items}  # type: ignore[union-attr]
    assert "host_backoff" in reasons and reasons <= {"host_backoff", "http_error"}
    backoff = next(i for i in items if i.reason == "host_backoff")  # type: ignore[union-attr]
    assert "next run" in backoff.detail  # type: ignore[union-attr]
    # The cap stopped the retries: far fewer requests than 20 URLs x (1 + 3 retries).
    assert paths(threaded).count("/p") < 20 * (1 + 3) // 2


def test_a_huge_retry_after_does_not_hold_the_hosts_other_urls(threaded: HTTPServer) -> None:
    threaded.expect_request("/stuck").respond_with_data(
        "later", status=429, headers={"Retry-After": "100000"}
    )
    threaded.expect_request("/p").respond_with_data(page("ok"), content_type="text/html")
    urls = [threaded.url_for("/stuck")] + [threaded.url_for(f"/p?n={i}") for i in range(4)]
    items = run(*urls, max_retry_after_s=5.0)
    assert sum(isinstance(i, WorkUnit) for i in items) == 4  # not held for the 100000 s
    refused = [i for i in items if isinstance(i, Rejection)]
    assert len(refused) == 1 and "exceeds the 5 s limit" in refused[0].detail
    assert paths(threaded).count("/stuck") == 1


def test_a_truncated_gzip_body_is_a_read_error(site: HTTPServer) -> None:
    whole = gzip.compress(page("zipped " * 500).encode())
    site.expect_request("/cut").respond_with_data(
        whole[: len(whole) // 2], content_type="text/html", headers={"Content-Encoding": "gzip"}
    )
    refused = rejection(run(site.url_for("/cut")))
    assert refused.reason == "read_error" and "truncated" in refused.detail


def test_an_exception_on_one_url_rejects_that_url_alone(
    site: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever raises while one URL is handled (here: the content sniffer, made to raise on
    one body) is that URL's internal_error; the poll goes on with the others."""
    import flows.extract.web.discover as web_discover

    real = web_discover.classify

    def fragile(content_type: str | None, body: bytes) -> object:
        if b"boom" in body:
            raise UnicodeDecodeError("utf-8", body, 0, 1, "a library bug")
        return real(content_type, body)

    monkeypatch.setattr(web_discover, "classify", fragile)
    for name in ("a", "b", "c"):
        text = page("boom" if name == "b" else name)
        site.expect_request(f"/{name}").respond_with_data(text, content_type="text/html")
    items = run(*(site.url_for(f"/{n}") for n in ("a", "b", "c")))
    units = sorted(i.source for i in items if isinstance(i, WorkUnit))
    assert units == [site.url_for("/a"), site.url_for("/c")]
    (refused,) = [i for i in items if isinstance(i, Rejection)]
    assert refused.source == site.url_for("/b") and refused.reason == "internal_error"
    assert refused.detail.startswith("UnicodeDecodeError: ")
