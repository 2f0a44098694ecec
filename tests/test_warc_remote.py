"""Remote web archives from a local HTTP server: a warc.paths.gz listing relative to a base
URL, downloads through the fetcher (robots.txt, per-host pacing, Range resume, a length
check, never written through a symlink), an unchanged file skipped by its ETag."""

from __future__ import annotations

import gzip
import itertools
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from flows.core.units import Rejection, WorkUnit
from flows.extract.web.download import RemoteFiles, discover_remote_warcs, download_name
from flows.extract.web.options import WebOptions

from .warcs import page, response, write_warc

pytestmark = pytest.mark.timeout(60)

_RANGE = re.compile(r"bytes=(\d+)-")
# How much later than our client sends it a request may reach the server's handler on a
# busy machine (as in tests/test_web_fetch.py).
JITTER_S = 0.1


@dataclass(frozen=True)
class Hit:
    """One request as the server saw it."""

    method: str
    path: str
    range: str | None
    at: float  # time.monotonic() when the handler ran


def serve_files(
    server: HTTPServer,
    files: dict[str, bytes],
    max_chunk: int,
    robots: str | None = None,
    honour_range: bool = True,
) -> list[Hit]:
    """Serve ``files`` with ETags and Range support, at most ``max_chunk`` bytes a response
    (a server that cuts long transfers), and ``robots`` as robots.txt (404 when None);
    returns the log of the requests it got."""
    hits: list[Hit] = []

    def handler(request: Request) -> Response:
        wanted = request.headers.get("Range")
        hits.append(Hit(request.method, request.path, wanted, time.monotonic()))
        if request.path == "/robots.txt":
            status = 404 if robots is None else 200
            return Response(robots or "", status=status, content_type="text/plain")
        data = files[request.path]
        headers = {"ETag": f'"{len(data)}"', "Accept-Ranges": "bytes"}
        if request.method == "HEAD":
            return Response(b"", headers={**headers, "Content-Length": str(len(data))})
        start = 0
        if honour_range and wanted is not None:
            start = int(_RANGE.match(wanted).group(1))  # type: ignore[union-attr]
        if start >= len(data):
            return Response(b"", status=416, headers={"Content-Range": f"bytes */{len(data)}"})
        end = min(len(data), start + max_chunk)
        status = 206 if start or end < len(data) else 200
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
        return Response(data[start:end], status=status, headers=headers)

    for path in [*files, "/robots.txt"]:
        server.expect_request(path).respond_with_handler(handler)
    return hits


def ranges(hits: list[Hit]) -> list[str]:
    return [hit.range for hit in hits if hit.range is not None]


def warc_bytes(tmp_path: Path, name: str, host: str, n: int) -> bytes:
    recs = [response(f"https://{host}.example/{i}", page(f"{host} story {i}")) for i in range(n)]
    return write_warc(tmp_path / name, recs).read_bytes()


def quick(**overrides: object) -> WebOptions:
    base: dict[str, object] = {"allow_private_network": True, "min_delay_s": 0, "backoff_s": 0.01}
    return WebOptions(**{**base, **overrides})  # type: ignore[arg-type]


def test_download_resumes_with_range_requests(tmp_path: Path, httpserver: HTTPServer) -> None:
    data = warc_bytes(tmp_path, "a.warc.gz", "a", 6)
    hits = serve_files(httpserver, {"/crawl/a.warc.gz": data}, max_chunk=len(data) // 3 + 1)
    with RemoteFiles(quick()) as remote:
        dest = remote.download(httpserver.url_for("/crawl/a.warc.gz"), tmp_path / "d.gz")
    assert dest == tmp_path / "d.gz" and dest.read_bytes() == data
    assert len(ranges(hits)) == 2 and all(r.startswith("bytes=") for r in ranges(hits))
    assert not (tmp_path / "d.gz.part").exists()


@pytest.mark.parametrize("honour_range", [True, False])
def test_a_truncated_partial_file_is_resumed_or_replaced(
    tmp_path: Path, httpserver: HTTPServer, honour_range: bool
) -> None:
    """A partial file is resumed from where it stops; a server that ignores the Range sends
    the whole file again, which replaces it."""
    data = warc_bytes(tmp_path, "r.warc.gz", "r", 4)
    hits = serve_files(httpserver, {"/r.warc.gz": data}, len(data), honour_range=honour_range)
    dest = tmp_path / "r.warc.gz"
    dest.with_name(dest.name + ".part").write_bytes(data[:1000])
    with RemoteFiles(quick()) as remote:
        assert remote.download(httpserver.url_for("/r.warc.gz"), dest) == dest
    assert dest.read_bytes() == data and not dest.with_name(dest.name + ".part").exists()
    assert [(h.method, h.path, h.range) for h in hits] == [
        ("GET", "/robots.txt", None),
        ("GET", "/r.warc.gz", "bytes=1000-"),
    ]


def test_a_download_never_writes_through_a_symlink(tmp_path: Path, httpserver: HTTPServer) -> None:
    data = warc_bytes(tmp_path, "s.warc.gz", "s", 2)
    serve_files(httpserver, {"/s.warc.gz": data}, len(data))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_bytes(b"precious")
    (outside / "kept").write_bytes(b"kept")
    dest = tmp_path / "dl" / "s.warc.gz"
    dest.parent.mkdir()
    dest.with_name(dest.name + ".part").symlink_to(outside / "precious")
    dest.symlink_to(outside / "kept")
    with RemoteFiles(quick()) as remote:
        assert remote.download(httpserver.url_for("/s.warc.gz"), dest) == dest
    assert not dest.is_symlink() and dest.read_bytes() == data
    assert (outside / "precious").read_bytes() == b"precious"
    assert (outside / "kept").read_bytes() == b"kept"


def test_download_over_the_size_limit_keeps_nothing(tmp_path: Path, httpserver: HTTPServer) -> None:
    data = warc_bytes(tmp_path, "b.warc.gz", "b", 2)
    serve_files(httpserver, {"/b.warc.gz": data}, max_chunk=len(data))
    with RemoteFiles(quick()) as remote:
        refused = remote.download(httpserver.url_for("/b.warc.gz"), tmp_path / "b", max_bytes=100)
    assert not isinstance(refused, Path)
    assert refused.reason == "too_large" and "limit" in refused.detail
    assert not (tmp_path / "b").exists() and not (tmp_path / "b.part").exists()


def test_a_remote_warc_obeys_robots_txt(tmp_path: Path, httpserver: HTTPServer) -> None:
    """The listing and the files go through robots.txt: a file it disallows is one rejected
    input and never requested, not even with HEAD; the file beside it loads."""
    files = {
        "/crawl/open.warc.gz": warc_bytes(tmp_path, "open.warc.gz", "open", 2),
        "/crawl/private.warc.gz": warc_bytes(tmp_path, "private.warc.gz", "private", 2),
        "/lists/warc.paths.gz": gzip.compress(b"crawl/private.warc.gz\ncrawl/open.warc.gz\n"),
    }
    robots = "User-agent: *\nDisallow: /crawl/private\n"
    hits = serve_files(httpserver, files, 10**9, robots=robots)
    listing = httpserver.url_for("/lists/warc.paths.gz")
    base = httpserver.url_for("/")
    found = list(discover_remote_warcs([listing], quick(), {}, tmp_path / "dl", base))
    rejects = [(f.source, f.reason, f.detail) for f in found if isinstance(f, Rejection)]
    private = httpserver.url_for("/crawl/private.warc.gz")
    assert rejects == [(private, "robots_disallowed", "disallowed by robots.txt")]
    units = [f.url for f in found if isinstance(f, WorkUnit)]
    assert units == ["https://open.example/0", "https://open.example/1"]
    assert "/crawl/private.warc.gz" not in [hit.path for hit in hits]
    assert [hit.path for hit in hits].count("/robots.txt") == 1  # once per run and host


def test_downloads_from_one_host_are_paced(tmp_path: Path, httpserver: HTTPServer) -> None:
    """Every request to a host (robots.txt, HEAD, GET) starts at least --min-delay after the
    one before: the server's log shows the spacing (lower bounds only)."""
    files = {f"/{h}.warc.gz": warc_bytes(tmp_path, f"{h}.warc.gz", h, 2) for h in ("x", "y")}
    hits = serve_files(httpserver, files, 10**9)
    urls = [httpserver.url_for(path) for path in files]
    delay = 0.4
    found = list(discover_remote_warcs(urls, quick(min_delay_s=delay), {}, tmp_path / "dl", "/"))
    assert len([f for f in found if isinstance(f, WorkUnit)]) == 4
    assert [(h.method, h.path) for h in hits] == [
        ("GET", "/robots.txt"),
        ("HEAD", "/x.warc.gz"),
        ("GET", "/x.warc.gz"),
        ("HEAD", "/y.warc.gz"),
        ("GET", "/y.warc.gz"),
    ]
    gaps = [b.at - a.at for a, b in itertools.pairwise(hits)]
    assert all(gap >= delay - JITTER_S for gap in gaps), gaps
    assert hits[4].at - hits[2].at >= 2 * delay - JITTER_S  # the two downloads


def test_a_retry_after_past_the_cap_rejects_the_file_at_once(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    """The fetcher's Retry-After cap holds for files too: no waiting, one request, the file
    rejected (tried again next run)."""
    serve_files(httpserver, {}, 1)
    httpserver.expect_request("/busy.warc.gz").respond_with_data(
        "", status=503, headers={"Retry-After": "86400"}
    )
    url = httpserver.url_for("/busy.warc.gz")
    found = list(discover_remote_warcs([url], quick(), {}, tmp_path / "dl", "/"))
    assert [(f.source, f.reason) for f in found if isinstance(f, Rejection)] == [
        (url, "http_error")
    ]
    assert "Retry-After" in found[0].detail  # type: ignore[union-attr]
    assert [r.path for r, _ in httpserver.log] == ["/robots.txt", "/busy.warc.gz"]


@pytest.mark.usefixtures("prefect_api")
def test_ingest_a_paths_listing_then_skip_it_unchanged(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    from flows.ingest import ingest

    one = warc_bytes(tmp_path, "one.warc.gz", "one", 5)
    two = warc_bytes(tmp_path, "two.warc.gz", "two", 4)
    listing = gzip.compress(b"crawl-data/CC-NEWS/one.warc.gz\ncrawl-data/CC-NEWS/two.warc.gz\n")
    files = {
        "/crawl-data/CC-NEWS/one.warc.gz": one,
        "/crawl-data/CC-NEWS/two.warc.gz": two,
        "/lists/warc.paths.gz": listing,
    }
    serve_files(httpserver, files, max_chunk=len(one) // 2 + 1)
    params = {
        "sources": [httpserver.url_for("/lists/warc.paths.gz")],
        "warehouse": str(tmp_path / "wh"),
        "warc_base_url": httpserver.url_for("/"),
        "allow_private_network": True,
        "min_delay_s": 0.0,
        "batch_size": 3,
        "staging": str(tmp_path / "staging"),
    }
    summary = ingest(**params)
    assert (summary["inputs"], summary["new"], summary["rejected"]) == (9, 9, 0)
    assert not list((tmp_path / "staging").rglob("*.warc*"))  # downloads removed

    again = ingest(**params)
    assert (again["inputs"], again["skipped_unchanged"], again["batches"]) == (9, 9, 0)


def test_an_exception_on_one_remote_file_rejects_only_it(
    tmp_path: Path, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {f"/{h}.warc.gz": warc_bytes(tmp_path, f"{h}.warc.gz", h, 2) for h in ("p", "q")}
    serve_files(httpserver, files, max_chunk=10**9)
    urls = [httpserver.url_for(path) for path in files]
    real_head = RemoteFiles.head

    def head(self: RemoteFiles, url: str) -> object:
        if url.endswith("/p.warc.gz"):
            raise RuntimeError("a library bug on this file")
        return real_head(self, url)

    monkeypatch.setattr(RemoteFiles, "head", head)
    found = list(discover_remote_warcs(urls, quick(), {}, tmp_path / "dl", httpserver.url_for("/")))
    rejects = [(f.source, f.reason) for f in found if isinstance(f, Rejection)]
    assert rejects == [(urls[0], "internal_error")]
    units = [f for f in found if isinstance(f, WorkUnit)]
    assert [u.url for u in units] == ["https://q.example/0", "https://q.example/1"]


def test_a_killed_runs_download_is_resumed_by_the_next_run(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    """A run killed while downloading leaves its partial file; the next run's recovery keeps
    it, and the next download of the same version of that file resumes it with a Range
    request instead of starting again. A partial file of another version is not used."""
    from flows.extract.web.download import remote_fingerprint
    from flows.extract.web.fetch import Fetched
    from flows.load.warehouse import recover
    from flows.plan import kept_downloads

    data = warc_bytes(tmp_path, "k.warc.gz", "k", 6)
    hits = serve_files(httpserver, {"/k.warc.gz": data}, max_chunk=len(data))
    url = httpserver.url_for("/k.warc.gz")
    with RemoteFiles(quick()) as remote:
        head = remote.head(url)
    assert isinstance(head, Fetched)
    fingerprint = remote_fingerprint(head.headers)
    assert fingerprint is not None
    warehouse = tmp_path / "wh"
    dead = warehouse / "staging" / "20260101T000000-dead" / "downloads"
    dead.mkdir(parents=True)
    half = len(data) // 2
    (dead / (download_name(url, fingerprint) + ".part")).write_bytes(data[:half])
    (dead / (download_name(url, "another|version") + ".part")).write_bytes(b"x" * half)
    recover(warehouse, committed=[])

    downloads = warehouse / "staging" / "20260101T000001-next" / "downloads"
    kept = kept_downloads(warehouse / "staging")
    found = list(discover_remote_warcs([url], quick(), {}, downloads, "http://unused/", kept))
    assert [u.url for u in found if isinstance(u, WorkUnit)] == [
        f"https://k.example/{i}" for i in range(6)
    ]
    assert ranges(hits) == [f"bytes={half}-"]  # one request, for the half that was missing
    assert (downloads / download_name(url, fingerprint)).read_bytes() == data
