"""Remote web archives from a local HTTP server: a warc.paths.gz listing relative to a base
URL, downloads resumed with Range requests, an unchanged file skipped by its ETag."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from flows.extract.web.download import Downloader
from flows.extract.web.options import WebOptions

from .warcs import page, response, write_warc

_RANGE = re.compile(r"bytes=(\d+)-")


def serve_files(server: HTTPServer, files: dict[str, bytes], max_chunk: int) -> list[str]:
    """Serve ``files`` with ETags and Range support, at most ``max_chunk`` bytes a response
    (a server that cuts long transfers); returns the Range headers it was sent."""
    ranges: list[str] = []

    def handler(request: Request) -> Response:
        data = files[request.path]
        headers = {"ETag": f'"{len(data)}"', "Accept-Ranges": "bytes"}
        if request.method == "HEAD":
            return Response(b"", headers={**headers, "Content-Length": str(len(data))})
        start = 0
        if (wanted := request.headers.get("Range")) is not None:
            ranges.append(wanted)
            start = int(_RANGE.match(wanted).group(1))
        end = min(len(data), start + max_chunk)
        status = 206 if start or end < len(data) else 200
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
        return Response(data[start:end], status=status, headers=headers)

    for path in files:
        server.expect_request(path).respond_with_handler(handler)
    return ranges


def warc_bytes(tmp_path: Path, name: str, host: str, n: int) -> bytes:
    recs = [response(f"https://{host}.example/{i}", page(f"{host} story {i}")) for i in range(n)]
    return write_warc(tmp_path / name, recs).read_bytes()


def test_download_resumes_with_range_requests(tmp_path: Path, httpserver: HTTPServer) -> None:
    data = warc_bytes(tmp_path, "a.warc.gz", "a", 6)
    ranges = serve_files(httpserver, {"/crawl/a.warc.gz": data}, max_chunk=len(data) // 3 + 1)
    options = WebOptions(allow_private_network=True, min_delay_s=0, backoff_s=0.01)
    dest = Downloader(options).fetch(httpserver.url_for("/crawl/a.warc.gz"), tmp_path / "d.gz")
    assert dest.read_bytes() == data
    assert len(ranges) == 2 and all(r.startswith("bytes=") for r in ranges)


def test_download_over_the_size_limit_keeps_nothing(tmp_path: Path, httpserver: HTTPServer) -> None:
    from flows.extract.web.download import DownloadError

    data = warc_bytes(tmp_path, "b.warc.gz", "b", 2)
    serve_files(httpserver, {"/b.warc.gz": data}, max_chunk=len(data))
    options = WebOptions(allow_private_network=True, min_delay_s=0)
    with pytest.raises(DownloadError, match="limit") as caught:
        Downloader(options, max_bytes=100).fetch(httpserver.url_for("/b.warc.gz"), tmp_path / "b")
    assert caught.value.reason == "too_large"
    assert not (tmp_path / "b").exists() and not (tmp_path / "b.part").exists()


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
    from flows.extract.web import download

    files = {f"/{h}.warc.gz": warc_bytes(tmp_path, f"{h}.warc.gz", h, 2) for h in ("p", "q")}
    serve_files(httpserver, files, max_chunk=10**9)
    urls = [httpserver.url_for(path) for path in files]
    real_head = download.Downloader.head

    def head(self: download.Downloader, url: str) -> str | None:
        if url.endswith("/p.warc.gz"):
            raise RuntimeError("a library bug on this file")
        return real_head(self, url)

    monkeypatch.setattr(download.Downloader, "head", head)
    options = WebOptions(allow_private_network=True, min_delay_s=0)
    found = list(
        download.discover_remote_warcs(urls, options, {}, tmp_path / "dl", httpserver.url_for("/"))
    )
    rejects = [(f.source, f.reason) for f in found if isinstance(f, download.Rejection)]
    assert rejects == [(urls[0], "internal_error")]
    units = [f for f in found if isinstance(f, download.WorkUnit)]
    assert [u.url for u in units] == ["https://q.example/0", "https://q.example/1"]


def test_a_killed_runs_download_is_resumed_by_the_next_run(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    """A run killed while downloading leaves its partial file; the next run's recovery keeps
    it, and the next download of the same version of that file resumes it with a Range
    request instead of starting again. A partial file of another version is not used."""
    from flows.core.units import WorkUnit
    from flows.extract.web.download import discover_remote_warcs, download_name
    from flows.load.warehouse import recover

    data = warc_bytes(tmp_path, "k.warc.gz", "k", 6)
    ranges = serve_files(httpserver, {"/k.warc.gz": data}, max_chunk=len(data))
    url = httpserver.url_for("/k.warc.gz")
    options = WebOptions(allow_private_network=True, min_delay_s=0, backoff_s=0.01)
    fingerprint = Downloader(options).head(url)
    assert fingerprint is not None
    warehouse = tmp_path / "wh"
    dead = warehouse / "staging" / "20260101T000000-dead" / "downloads"
    dead.mkdir(parents=True)
    half = len(data) // 2
    (dead / (download_name(url, fingerprint) + ".part")).write_bytes(data[:half])
    (dead / (download_name(url, "another|version") + ".part")).write_bytes(b"x" * half)
    recover(warehouse, committed=[])

    downloads = warehouse / "staging" / "20260101T000001-next" / "downloads"
    found = list(discover_remote_warcs([url], options, {}, downloads, "http://unused.example/"))
    assert [u.url for u in found if isinstance(u, WorkUnit)] == [
        f"https://k.example/{i}" for i in range(6)
    ]
    assert ranges == [f"bytes={half}-"]  # one request, for the half that was missing
    assert (downloads / download_name(url, fingerprint)).read_bytes() == data
