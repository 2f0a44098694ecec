"""WARC files as a source: records as inputs, rejects with file and offset, crawl time in
lineage, a second ingest skipped unchanged, and one file spread over several batches."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from flows.core.units import Rejection, WorkUnit
from flows.extract.warc import RecordError, index_warc, read_payload, sniff_warc
from flows.load.warehouse import connect

from .warcs import chunked, encoded_response, http_block, page, record, response, write_warc

GBK_TITLE = "市议会批准新预算"
GBK_PAGE = (
    f"<html><head><title>{GBK_TITLE}</title></head><body><article><p>"
    + "市议会周二批准了新的年度预算，包括学校和医院的新项目。" * 4
    + "</p></article></body></html>"
).encode("gbk")


def mixed_records(prefix: str) -> list[bytes]:
    """Every kind the issue names; 8 inputs: 4 articles, revisit, 404, PDF, duplicate."""
    return [
        record("warcinfo", None, b"software: tests\r\n", content_type="application/warc-fields"),
        record(
            "request",
            f"https://{prefix}.example/a",
            b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
            content_type="application/http; msgtype=request",
        ),
        response(f"https://{prefix}.example/a", page(f"{prefix} A story")),
        record("metadata", f"https://{prefix}.example/a", b"via: x\r\n", content_type="x"),
        response(
            f"https://{prefix}.example/gbk",
            GBK_PAGE,
            http_content_type="text/html; charset=GBK",
            date="2024-06-01T08:00:00Z",
        ),
        record(
            "revisit",
            f"https://{prefix}.example/a",
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n",
            extra={
                "WARC-Profile": "http://netpreserve.org/warc/1.0/revisit/identical-payload-digest"
            },
        ),
        response(f"https://{prefix}.example/gone", b"<html>gone</html>", status="404 Not Found"),
        response(
            f"https://{prefix}.example/doc.pdf",
            b"%PDF-1.4 binary",
            http_content_type="application/pdf",
        ),
        record(
            "resource",
            f"https://{prefix}.example/res",
            page(f"{prefix} resource story"),
            content_type="text/html",
            version="1.1",
        ),
        response(f"https://{prefix}.example/a", page(f"{prefix} A story")),  # within the file
        response("https://shared.example/same", page("Shared story")),  # across files
    ]


def test_sniff_recognises_plain_and_gzip_warc() -> None:
    rec = response("https://s.example/", page("x"))
    assert sniff_warc(rec) and sniff_warc(gzip.compress(rec))
    assert not sniff_warc(b"<html>") and not sniff_warc(gzip.compress(b"<html>"))


@pytest.mark.parametrize("name", ["c.warc", "c.warc.gz"])
def test_corrupt_middle_and_truncated_last_record_are_rejected_rest_read(
    tmp_path: Path, name: str
) -> None:
    recs = [response(f"https://c.example/{i}", page(f"C {i}")) for i in range(5)]
    path = write_warc(tmp_path / name, recs)
    sizes = [len(gzip.compress(r, mtime=0)) if name.endswith(".gz") else len(r) for r in recs]
    data = bytearray(path.read_bytes())
    data[sizes[0] + 30 : sizes[0] + 60] = b"X" * 30  # the second record's header
    path.write_bytes(bytes(data[:-40]))  # and the last record cut short

    found = list(index_warc(str(path), "c"))
    units = [f for f in found if isinstance(f, WorkUnit)]
    bad = [f for f in found if isinstance(f, Rejection)]
    assert [u.url for u in units] == [f"https://c.example/{i}" for i in (0, 2, 3, 4)]
    assert len(bad) == 1 and bad[0].reason == "corrupt_record"
    assert bad[0].source == f"c#{sizes[0]}"
    payloads = []
    for unit in units:
        try:
            payloads.append(read_payload(str(path), unit.meta, 10**7))
        except Exception as exc:  # the truncated last one
            payloads.append(exc)
    assert payloads[:3] == [page(f"C {i}") for i in (0, 2, 3)]
    assert "truncated record at offset" in str(payloads[3])


def test_a_damaged_payload_rejects_that_record_alone(tmp_path: Path) -> None:
    """The damage deep inside one record's gzip member: that record is an input its reader
    rejects, and the next record, intact, is read (not blamed for the damage before it)."""
    import random

    words = random.Random(7).choices(["budget", "council", "school", "road", "vote"], k=40_000)
    long_page = page("Long story", " ".join(words))
    members = [
        gzip.compress(response(f"https://d.example/{i}", body), mtime=0)
        for i, body in enumerate([page("D 0"), long_page, page("D 2"), page("D 3")])
    ]
    damaged = bytearray(members[1])
    cut = len(damaged) * 3 // 4
    damaged[cut:-8] = random.Random(3).randbytes(len(damaged) - 8 - cut)
    members[1] = bytes(damaged)
    path = tmp_path / "damaged.warc.gz"
    path.write_bytes(b"".join(members))

    found = list(index_warc(str(path), "d"))
    assert [type(f).__name__ for f in found] == ["WorkUnit"] * 4
    outcomes: list[object] = []
    for unit in found:
        try:
            outcomes.append(read_payload(str(path), unit.meta, 10**7))
        except RecordError as exc:
            outcomes.append(exc.reason)
    assert outcomes == [page("D 0"), "corrupt_record", page("D 2"), page("D 3")]


def test_a_record_too_large_to_be_a_page_is_stepped_over(tmp_path: Path) -> None:
    """A record whose Content-Length claims more than any page may hold is found and
    rejected, and the next records are found by their own gzip members: a length that
    overshoots its member (damage, or an attack) cannot swallow them."""
    liar = record("response", "https://l.example/big", http_block(page("Big")))
    liar = liar.replace(
        b"Content-Length: %d" % len(http_block(page("Big"))), b"Content-Length: 99999999999"
    )
    path = write_warc(
        tmp_path / "liar.warc.gz",
        [response("https://l.example/0", page("L 0")), liar]
        + [response(f"https://l.example/{i}", page(f"L {i}")) for i in (2, 3)],
    )
    found = list(index_warc(str(path), "l"))
    assert [getattr(f, "url", None) for f in found] == [
        f"https://l.example/{i}" for i in ("0", "big", "2", "3")
    ]
    with pytest.raises(RecordError) as raised:
        read_payload(str(path), found[1].meta, 10**7)
    assert raised.value.reason == "too_large"
    assert read_payload(str(path), found[3].meta, 10**7) == page("L 3")


def _claiming(rec: bytes, extra: int) -> bytes:
    """``rec`` with its WARC Content-Length off by ``extra`` bytes."""
    head, sep, rest = rec.partition(b"\r\n\r\n")
    length = int(head.rsplit(b"Content-Length: ", 1)[1])
    head = head.replace(b"Content-Length: %d" % length, b"Content-Length: %d" % (length + extra))
    return head + sep + rest


@pytest.mark.parametrize("name", ["runs-on.warc.gz", "runs-on.warc"])
@pytest.mark.parametrize("extra", [40, 1_500, 2_000_000, -40])
def test_a_content_length_that_runs_on_cannot_swallow_the_records_after_it(
    tmp_path: Path, name: str, extra: int
) -> None:
    """A record whose Content-Length claims more bytes than it has (into the next record, over
    several, past the end of the file) made the library read the records after it as its
    payload and resume past them: they were lost uncounted and the liar loaded with their
    text. Now the liar is rejected with its offset and every record after it is read. A
    length that falls short (its page cut) is rejected too: by the index in a plain WARC, by
    the reader inside a gzip member."""
    records = [response(f"https://r.example/{i}", page(f"R {i}")) for i in range(6)]
    records[1] = _claiming(records[1], extra)
    path = write_warc(tmp_path / name, records)

    found = list(index_warc(str(path), "r"))
    kinds = [getattr(f, "url", None) or getattr(f, "reason", None) for f in found]
    if extra < 0 and name.endswith(".gz"):  # a short length inside its own gzip member:
        assert kinds == [f"https://r.example/{i}" for i in range(6)]  # found by the index,
        with pytest.raises(RecordError) as raised:  # rejected by the reader, not cut short
            read_payload(str(path), found[1].meta, 10**7)
        assert raised.value.reason == "corrupt_record"
        assert "ends 40 bytes before the end of its gzip member" in raised.value.detail
        for i in (0, 2, 3, 4, 5):
            assert read_payload(str(path), found[i].meta, 10**7) == page(f"R {i}")
        return
    assert kinds == ["https://r.example/0", "corrupt_record"] + [
        f"https://r.example/{i}" for i in range(2, 6)
    ]
    assert "Content-Length" in found[1].detail and "offset" in found[1].detail
    for i, unit in enumerate(found):
        if i != 1:
            assert read_payload(str(path), unit.meta, 10**7) == page(f"R {i}")


@pytest.mark.parametrize("extra", [40, 1_500, 2_000_000])
@pytest.mark.parametrize("layout", ["whole", "grouped"])
def test_inside_a_shared_gzip_member_a_record_that_runs_on_is_rejected_with_what_it_swallowed(
    tmp_path: Path, extra: int, layout: str
) -> None:
    """A file gzipped as a whole (or a member that groups records) has no offset to check a
    record's end against: the library read the records after a Content-Length that runs on
    as its payload and went on past them, uncounted. Now the liar and each input it
    swallowed are rejected, a request it swallowed is not counted, and the records after
    them load; every input is accounted for."""
    records = [response(f"https://w.example/{i}", page(f"W {i}")) for i in range(7)]
    records[2] = record(
        "request",
        "https://w.example/1",
        b"GET /1 HTTP/1.1\r\nHost: w.example\r\n\r\n",
        content_type="application/http; msgtype=request",
    )
    records[1] = _claiming(records[1], extra)
    path = tmp_path / f"{layout}.warc.gz"
    if layout == "whole":
        path.write_bytes(gzip.compress(b"".join(records)))
    else:  # record 0 alone, then one member of all the others
        path.write_bytes(gzip.compress(records[0]) + gzip.compress(b"".join(records[1:])))

    found = list(index_warc(str(path), "w"))
    kinds = [f.url if isinstance(f, WorkUnit) else f.reason for f in found]
    swallowed = {40: 1, 1_500: 3, 2_000_000: 5}[extra]  # the request, then responses
    inputs_swallowed = swallowed - 1
    assert kinds == (
        ["https://w.example/0", "corrupt_record"]
        + ["corrupt_record"] * inputs_swallowed
        + [f"https://w.example/{i}" for i in range(2 + swallowed, 7)]
    )
    assert len(found) == 6  # 7 records, one of them a request: 6 inputs, each accounted for
    assert f"runs over the start of {swallowed} more record(s)" in found[1].detail
    for rejected in found[2 : 2 + inputs_swallowed]:
        assert rejected.source.startswith(found[1].source + "+swallowed-")
        assert rejected.detail.startswith("response ")
    for unit in found[2 + inputs_swallowed :]:
        assert read_payload(str(path), unit.meta, 10**7) == page(f"W {unit.url[-1]}")


@pytest.mark.parametrize("whole", [False, True])
def test_a_page_that_shows_a_warc_record_is_no_record_run_over(tmp_path: Path, whole: bool) -> None:
    """A page about web archives may show a record in its text; it is loaded like any other,
    last in its file or inside a member that holds them all."""
    shown = "WARC/1.1\nWARC-Type: response\nContent-Length: 10\n\n"
    crlf = "WARC/1.1\r\nWARC-Type: response\r\nContent-Length: 10\r\n\r\n"
    records = [
        response(
            f"https://a.example/{i}",
            page(f"A {i}").replace(b"<p>", f"<pre>\n{s}</pre><p>".encode(), 1),
        )
        for i, s in enumerate([shown, shown, crlf])
    ]
    path = tmp_path / "about.warc.gz"
    if whole:
        path.write_bytes(gzip.compress(b"".join(records[:2])))
    else:
        write_warc(path, records)
    found = list(index_warc(str(path), "a"))
    assert all(isinstance(f, WorkUnit) for f in found), found
    assert len(found) == (2 if whole else 3)


@pytest.mark.parametrize("name", ["typeless.warc.gz", "typeless.warc"])
def test_a_record_without_a_type_is_rejected_not_dropped(tmp_path: Path, name: str) -> None:
    records = [response(f"https://t.example/{i}", page(f"T {i}")) for i in range(3)]
    records[1] = records[1].replace(b"WARC-Type: response\r\n", b"")
    found = list(index_warc(str(write_warc(tmp_path / name, records)), "t"))
    assert [getattr(f, "url", None) or f.detail.split(" at ")[0] for f in found] == [
        "https://t.example/0",
        "no WARC-Type",
        "https://t.example/2",
    ]


@pytest.mark.parametrize("name", ["cut.warc.gz", "cut.warc"])
def test_a_record_that_holds_part_of_its_page_is_rejected_truncated(
    tmp_path: Path, name: str
) -> None:
    """Cut by its crawler, or the first of several segments: either way its body would stop
    mid-article. Its continuation records are not inputs; the records around it load."""
    first = page("Split story")
    records = [
        response("https://s.example/0", page("S 0")),
        response("https://s.example/cut", first, extra={"WARC-Truncated": "length"}),
        response(
            "https://s.example/split",
            first[:200],
            extra={"WARC-Segment-Number": "1", "WARC-Segment-Origin-ID": "<urn:uuid:1>"},
        ),
        record(
            "continuation",
            "https://s.example/split",
            first[200:],
            content_type="application/http; msgtype=response",
            extra={
                "WARC-Segment-Number": "2",
                "WARC-Segment-Origin-ID": "<urn:uuid:1>",
                "WARC-Segment-Total-Length": str(len(first)),
            },
        ),
        response("https://s.example/2", page("S 2")),
    ]
    found = list(index_warc(str(write_warc(tmp_path / name, records)), "s"))
    assert [f.url if isinstance(f, WorkUnit) else f.reason for f in found] == [
        "https://s.example/0",
        "truncated",
        "truncated",
        "https://s.example/2",
    ]
    assert "WARC-Truncated: length" in found[1].detail and "#" in found[1].source
    assert found[2].detail.startswith("segment 1 of a record continued in other records")


def _bad_length(rec: bytes, value: str | None) -> bytes:
    head, sep, rest = rec.partition(b"\r\n\r\n")
    lines = [ln for ln in head.split(b"\r\n") if not ln.startswith(b"Content-Length:")]
    if value is not None:
        lines.append(b"Content-Length: " + value.encode())
    return b"\r\n".join(lines) + sep + rest


@pytest.mark.parametrize("name", ["bad.warc.gz", "bad.warc"])
@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda r: _bad_length(r, "-636"), "Content-Length '-636'"),
        (lambda r: _bad_length(r, "x636"), "Content-Length 'x636'"),
        (lambda r: _bad_length(r, None), "no Content-Length"),
        (lambda r: r.replace(b"HTTP/1.1 200 OK", b"HTTP/1.1 OK 200"), "no HTTP status"),
    ],
)
def test_a_record_with_a_bad_length_or_status_is_rejected_alone(
    tmp_path: Path, name: str, damage: object, said: str
) -> None:
    records = [response(f"https://b.example/{i}", page(f"B {i}")) for i in range(3)]
    records[1] = damage(records[1])  # type: ignore[operator]
    found = list(index_warc(str(write_warc(tmp_path / name, records)), "b"))
    assert [getattr(f, "url", None) or f.reason for f in found] == [
        "https://b.example/0",
        "corrupt_record",
        "https://b.example/2",
    ]
    assert found[1].detail.startswith(said), found[1].detail


@pytest.mark.usefixtures("prefect_api")
def test_ingest_warc_files_accounting_lineage_and_rerun(tmp_path: Path, warehouse: Path) -> None:
    from flows.ingest import ingest

    src = tmp_path / "in"
    src.mkdir()
    write_warc(src / "one.warc.gz", mixed_records("one"))
    write_warc(src / "two.warc", mixed_records("two"))
    canonical = b'<head><link rel="canonical" href="https://plain.example/p">'
    (src / "page.html").write_bytes(page("A plain page").replace(b"<head>", canonical))

    summary = ingest(sources=[str(src)], warehouse=str(warehouse), batch_size=3)
    # Per file 9 inputs: a, gbk, revisit, 404, pdf, resource, a again, shared; plus the page.
    assert summary["inputs"] == 2 * 8 + 1
    reasons = summary["reasons"]
    assert reasons == {"revisit": 2, "http_status": 2, "not_html": 2}
    assert summary["rejected"] == 6
    # one: a, gbk, res, shared; two: a, gbk, res; page: 1 -> 8 new; 2 dups within + 1 across
    assert (summary["new"], summary["duplicates"]) == (8, 3)
    assert summary["reconciliation"].endswith("0 skipped unchanged")

    con = connect(warehouse, read_only=True)
    try:
        gbk = con.execute(
            "SELECT a.title, a.timestamp, l.crawled_at, l.source FROM articles a "
            "JOIN lineage l USING (url) WHERE a.url = 'https://one.example/gbk'"
        ).fetchone()
        rejects = dict(
            con.execute("SELECT reason, any_value(source) FROM rejects GROUP BY reason").fetchall()
        )
    finally:
        con.close()
    assert gbk[0] == GBK_TITLE  # charset from the HTTP header only
    assert gbk[1] is None or gbk[1].year != 2024  # the crawl time is not the timestamp
    assert gbk[2].isoformat().startswith("2024-06-01T08:00:00")
    assert gbk[3].startswith(str(src / "one.warc.gz") + "#")
    assert "#" in rejects["revisit"]

    again = ingest(sources=[str(src)], warehouse=str(warehouse), batch_size=3)
    assert again["inputs"] == summary["inputs"]
    assert again["skipped_unchanged"] == again["inputs"]
    assert again["batches"] == 0


@pytest.mark.usefixtures("prefect_api")
def test_one_warc_file_is_spread_over_batches_and_workers(tmp_path: Path, warehouse: Path) -> None:
    from flows.ingest import ingest

    path = write_warc(
        tmp_path / "big.warc.gz",
        [response(f"https://big.example/{i}", page(f"Story {i}")) for i in range(40)],
    )
    summary = ingest(sources=[str(path)], warehouse=str(warehouse), batch_size=5, workers=2)
    assert (summary["inputs"], summary["new"], summary["batches"]) == (40, 40, 8)
    assert len(summary["workers"]) == 2  # one file, two worker processes


def test_bodies_archived_as_sent_are_decoded_like_a_browser(
    tmp_path: Path, warehouse: Path
) -> None:
    """wget, warcprox and browsertrix keep chunked framing and content encodings: each body
    loads as its page's text, never with chunk sizes or compressed bytes in it; a truncated
    gzip or deflate stream and a gzip bomb are rejected, not loaded as pages; headers ended
    by LF alone parse (old servers, some crawlers)."""
    import zlib

    import brotli

    from flows.ingest import ingest

    def story(name: str) -> bytes:
        return page(f"Story {name}", f"The {name} council approved the new budget for the city")

    def raw_deflate(data: bytes) -> bytes:
        packer = zlib.compressobj(wbits=-15)
        return packer.compress(data) + packer.flush()

    cases = {
        "chunked": (chunked(story("chunked")), "Transfer-Encoding: chunked\r\n"),
        "chunkedgzip": (
            chunked(gzip.compress(story("chunkedgzip"))),
            "Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n",
        ),
        "gzip": (gzip.compress(story("gzip")), "Content-Encoding: gzip\r\n"),
        "deflate": (zlib.compress(story("deflate")), "Content-Encoding: deflate\r\n"),
        "rawdeflate": (raw_deflate(story("rawdeflate")), "Content-Encoding: deflate\r\n"),
        "brotli": (
            chunked(brotli.compress(story("brotli"))),
            "Transfer-Encoding: chunked\r\nContent-Encoding: br\r\n",
        ),
        # stored decoded under the original headers: the body is taken as it is
        "storeddecoded": (
            story("storeddecoded"),
            "Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n",
        ),
    }
    bad = {
        "truncated": (gzip.compress(story("truncated"))[:-40], "Content-Encoding: gzip\r\n"),
        "cutdeflate": (zlib.compress(story("cutdeflate"))[:-40], "Content-Encoding: deflate\r\n"),
        "bomb": (gzip.compress(b"<p>" + b"a" * (11 << 20)), "Content-Encoding: gzip\r\n"),
    }
    records = [
        encoded_response(f"https://enc.example/{name}", body, headers)
        for name, (body, headers) in {**cases, **bad}.items()
    ]
    lf = b"HTTP/1.1 200 OK\nContent-Type: text/html\nTransfer-Encoding: chunked\n\n"
    records.append(
        record("response", "https://enc.example/lfheaders", lf + chunked(story("lfheaders")))
    )
    cases["lfheaders"] = (b"", "")
    path = write_warc(tmp_path / "sent.warc.gz", records)
    summary = ingest(sources=[str(path)], warehouse=str(warehouse))
    assert (summary["inputs"], summary["new"], summary["rejected"]) == (11, 8, 3)
    assert summary["reasons"] == {"read_error": 2, "too_large": 1}
    con = connect(warehouse, read_only=True)
    try:
        bodies = dict(con.execute("SELECT url, body FROM articles").fetchall())
    finally:
        con.close()
    for name in cases:
        body = bodies[f"https://enc.example/{name}"]
        assert f"The {name} council approved the new budget" in body, (name, body)
        assert "\r\n" not in body and "\ufffd" not in body, (name, body)


@pytest.mark.usefixtures("prefect_api")
def test_a_warc_gzipped_as_a_whole_is_read_record_by_record(
    tmp_path: Path, warehouse: Path
) -> None:
    """`gzip crawl.warc` makes one member of all records, and `cat` of two such files two:
    no offset reaches a record inside a member, so each is read by its place in the file,
    and every page loads under its own URL, whichever worker and batch reads it."""
    from flows.ingest import ingest

    records = [response(f"https://whole.example/{i}", page(f"Whole story {i}")) for i in range(30)]
    plain = write_warc(tmp_path / "all.warc", records, gzipped=False).read_bytes()
    src = tmp_path / "in"
    src.mkdir()
    (src / "whole.warc.gz").write_bytes(gzip.compress(plain))
    halves = [
        write_warc(tmp_path / "h0.warc", records[:15], gzipped=False),
        write_warc(tmp_path / "h1.warc", records[15:], gzipped=False),
    ]
    (src / "two.warc.gz").write_bytes(b"".join(gzip.compress(h.read_bytes()) for h in halves))

    units = [u for u in index_warc(str(src / "whole.warc.gz"), "w") if isinstance(u, WorkUnit)]
    assert len({u.source for u in units}) == 30  # each record named apart
    assert [u.meta["warc_nth"] for u in units] == [str(i) for i in range(30)]

    summary = ingest(sources=[str(src)], warehouse=str(warehouse), batch_size=4, workers=2)
    # the second file holds the same 30 pages: duplicates, loaded once
    assert (summary["inputs"], summary["new"], summary["duplicates"]) == (60, 30, 30)
    assert summary["rejected"] == 0
    con = connect(warehouse, read_only=True)
    try:
        rows = con.execute("SELECT url, title FROM articles").fetchall()
    finally:
        con.close()
    assert sorted(rows) == sorted(
        (f"https://whole.example/{i}", f"Whole story {i}") for i in range(30)
    )


def test_http_block_helper_is_well_formed() -> None:
    assert http_block(b"x").endswith(b"\r\n\r\nx")


def test_an_existing_warehouse_gains_the_crawled_at_column(tmp_path: Path) -> None:
    import duckdb

    from flows.load.warehouse import create_tables

    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    try:
        con.execute(
            "CREATE TABLE lineage (url VARCHAR NOT NULL, source VARCHAR NOT NULL, "
            "content_hash VARCHAR NOT NULL, timestamp_source VARCHAR, run_id VARCHAR NOT NULL, "
            "ingested_at TIMESTAMPTZ NOT NULL)"
        )
        con.execute("INSERT INTO lineage VALUES ('u', 's', 'h', NULL, 'r', now())")
        create_tables(con)
        create_tables(con)  # and again: the migration runs on every start
        rows = con.execute("SELECT url, crawled_at FROM lineage").fetchall()
    finally:
        con.close()
    assert rows == [("u", None)]


def test_an_exception_on_one_record_or_file_rejects_only_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Isolation in discovery: a bug met on one record is that record's internal_error; one
    met on the file ends its indexing with the records read so far kept, and the file is not
    remembered as indexed; a file gone before it is read is a read_error."""
    import flows.extract.warc as warc

    recs = [response(f"https://i.example/{i}", page(f"I {i}")) for i in range(3)]
    path = write_warc(tmp_path / "i.warc.gz", recs)
    real = warc._classify

    def classify(record, path_, source, offset):  # type: ignore[no-untyped-def]
        if "/1" in (record.headers.get("WARC-Target-URI") or ""):
            raise ValueError("a library bug on this record")
        return real(record, path_, source, offset)

    monkeypatch.setattr(warc, "_classify", classify)
    found = list(warc.discover_warc(str(path), "i", "fp", {}))
    units = [f for f in found if isinstance(f, WorkUnit)]
    bad = [f for f in found if isinstance(f, Rejection)]
    assert [u.url for u in units] == ["https://i.example/0", "https://i.example/2"]
    assert [(b.reason, b.detail) for b in bad] == [
        ("internal_error", "ValueError: a library bug on this record")
    ]
    assert isinstance(found[-1], warc.FileIndexed)

    def broken_index(path_: str, source: str, fingerprint: str = ""):  # type: ignore[no-untyped-def]
        yield WorkUnit(source=f"{source}#0", path=path_)
        raise RuntimeError("the reader failed mid-file")

    monkeypatch.setattr(warc, "index_warc", broken_index)
    monkeypatch.setattr(warc, "estimate_records", lambda path_, source: 3)
    found = list(warc.discover_warc(str(path), "i", "fp", {}))
    assert [type(f).__name__ for f in found] == ["FileEstimate", "WorkUnit", "Rejection"]
    assert (found[-1].source, found[-1].reason) == ("i", "internal_error")

    monkeypatch.undo()
    path.unlink()
    found = list(warc.discover_warc(str(path), "i", "fp", {}))
    assert [(f.source, f.reason) for f in found] == [("i", "read_error")]
