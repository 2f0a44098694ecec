"""Property-based tests (hypothesis) of the pure functions and the WARC reader: whatever the
input, each keeps its contract (issue 27). Example counts are bounded and examples are drawn
deterministically, so the whole module runs in well under a minute and CI sees the same cases
every time; no example database is written."""

from __future__ import annotations

import gzip
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.core.dates import EARLIEST, is_plausible, latest, parse_iso
from flows.core.settings import MAX_INPUT_BYTES
from flows.core.units import Article, Rejection, RejectReason, WorkUnit
from flows.core.urls import BadURL, canonical_url
from flows.executors.batch import transform_unit
from flows.extract.archive import HeaderError, parse_archived
from flows.extract.warc import RecordError, index_warc, read_payload

from .warcs import http_block, page, record

# Control characters a clean text or key never holds: C0 but tab and newline, DEL, C1.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
URL_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f]")


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# Text that mixes the troublesome: controls (C0, DEL, C1, ANSI escapes), markup, entities,
# URL syntax, non-ASCII letters, surrogates aside (they are not text).
PIECES = st.sampled_from(
    [
        "\x00",
        "\x07",
        "\x1b[31m",
        "\x1b",
        "\x7f",
        "\x80",
        "\x85",
        "\x9b",
        "\u2028",
        "\t",
        "\r\n",
        "\n",
        " ",
        "&amp;",
        "&#0;",
        "&#x85;",
        "<",
        ">",
        "\\",
        "[",
        "]",
        "(",
        ")",
        "#",
        "%",
        "%00",
        "?",
        "&",
        "=",
        "@",
        ":",
        "//",
        "utm_source=x",
        "é",
        "中文",
        "İ",
        "ﬁ",
    ]
)
TEXT = st.lists(
    st.one_of(PIECES, st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=8)),
    max_size=12,
).map("".join)
URLISH = st.tuples(
    st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "javascript:", "//", ""]),
    st.sampled_from(["", "user@", "a:b@"]),
    st.sampled_from(["news.example.com", "EXAMPLE.org", "[::1]", "1.2.3.4", "localhost", "x"]),
    st.sampled_from(["", ":80", ":0", ":99999", ":x"]),
    TEXT,
).map("".join)


# --- URLs --------------------------------------------------------------------------------


@fuzz(3000)
@given(st.one_of(URLISH, TEXT))
def test_canonical_urls_are_idempotent_and_control_free(raw: str) -> None:
    try:
        canonical = canonical_url(raw)
    except BadURL:
        return
    assert not URL_CONTROL.search(canonical)
    assert canonical.startswith(("http://", "https://"))
    assert canonical_url(canonical) == canonical


# --- dates -------------------------------------------------------------------------------

ISO = st.one_of(
    TEXT,
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat()),
    st.tuples(
        st.integers(-1, 10000),
        st.integers(0, 13),
        st.integers(0, 32),
        st.sampled_from(
            ["", "T00:00", "T25:61:61", "Z", "+99:00", "-23:59", "+14:00", ".123456789"]
        ),
    ).map(lambda t: f"{t[0]:04d}-{t[1]:02d}-{t[2]:02d}{t[3]}"),
)


@fuzz(2000)
@given(ISO, st.booleans())
def test_parse_iso_gives_utc_or_none_and_never_raises(value: str, naive_is_utc: bool) -> None:
    parsed = parse_iso(value, naive_is_utc=naive_is_utc)
    assert parsed is None or (parsed.utcoffset() is not None and parsed.tzinfo == UTC)


# --- archived items ----------------------------------------------------------------------

STAMP = st.one_of(
    st.integers(-(10**17), 10**17).map(str),
    st.sampled_from(["", "1690933501000", "1e12", "-0", "9" * 20, " 1690933501000 "]),
    TEXT,
)
ITEM = st.tuples(
    STAMP, TEXT, st.one_of(URLISH, TEXT), st.sampled_from(["---", "------", "- - -", ""]), TEXT
).map(lambda t: f"<!--{t[0]}-->\n[{t[1]}]({t[2]})\n{t[3]}\n<p>{t[4]}</p>")


@fuzz(2000)
@given(st.one_of(ITEM, TEXT))
def test_the_archived_item_parser_raises_only_header_errors(text: str) -> None:
    try:
        item = parse_archived(text)
    except HeaderError as exc:
        assert exc.reason in (RejectReason.BAD_HEADER, RejectReason.BAD_TIMESTAMP)
        return
    assert EARLIEST <= item.published <= latest()
    assert item.title == item.title.strip()


# --- the transform of one input ----------------------------------------------------------

# Without NUL: a page holding one is binary (not_html), and paragraphs should reach the body.
WORDS = st.sampled_from(
    [
        "The council",
        " approved",
        " the budget",
        ". ",
        "\x07",
        "\x1b[31m",
        "\x85",
        "\x9b",
        "\x7f",
        "&amp;",
        "中文",
        "\u2028",
        "\r\n",
    ]
)
PARAGRAPH = st.lists(
    WORDS,
    min_size=5,
    max_size=40,
).map("".join)


def mostly(good: str, odd: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A sane value about three times in four: enough inputs get through to be articles
    (``one_of`` would lean to the odd branch, which hypothesis finds more interesting)."""
    return st.sampled_from([True, True, True, False]).flatmap(
        lambda sane: st.just(good) if sane else odd
    )


PAGE = st.tuples(
    mostly("A headline", TEXT),
    mostly("https://n.example/a", URLISH),
    mostly("2024-05-01T10:00:00Z", ISO),
    mostly("/img/a.jpg", URLISH),
    st.lists(PARAGRAPH, min_size=1, max_size=4),
).map(
    lambda t: (
        f'<html><head><title>{t[0]}</title><link rel="canonical" href="{t[1]}">'
        f'<meta property="article:published_time" content="{t[2]}">'
        f'<meta property="og:image" content="{t[3]}"></head><body><article><h1>{t[0]}</h1>'
        + "".join(f"<p>{p} {p} {p}</p>" for p in t[4])
        + "</article></body></html>"
    )
)
GOOD_ITEM = st.tuples(
    mostly("1690933501000", STAMP), PARAGRAPH, st.lists(PARAGRAPH, max_size=3)
).map(
    lambda t: (
        f"<!--{t[0]}-->\n[{t[1][:60]}](https://n.example/i)\n---\n"
        + "".join(f"<p>{p} {p} {p}</p>" for p in t[2])
    )
)
ENCODED = st.tuples(
    st.sampled_from([PAGE, PAGE, GOOD_ITEM, ITEM]).flatmap(lambda strategy: strategy),
    mostly("utf-8", st.sampled_from(["utf-16", "gb18030", "latin-1", "utf-8-sig"])),
).map(lambda t: t[0].encode(t[1], errors="replace"))
RAW = st.sampled_from(["plain", "plain", "plain", "gzip", "cut", "binary"]).flatmap(
    lambda kind: {
        "plain": ENCODED,
        "gzip": ENCODED.map(gzip.compress),
        "cut": ENCODED.map(lambda b: gzip.compress(b)[:-9]),  # a gzip stream cut short
        "binary": st.binary(max_size=300),
    }[kind]
)


@fuzz(150)
@given(RAW)
def test_the_transform_of_one_input_keeps_the_article_contract(data: bytes) -> None:
    outcome = transform_unit(WorkUnit(source="fuzz", data=data))  # never raises
    if isinstance(outcome, Rejection):
        assert outcome.reason in set(RejectReason) - {RejectReason.INTERNAL_ERROR}
        return
    assert isinstance(outcome, Article)
    assert canonical_url(outcome.url) == outcome.url and not URL_CONTROL.search(outcome.url)
    assert outcome.title.strip() and not CONTROL.search(outcome.title)
    assert outcome.body.strip() and not CONTROL.search(outcome.body)
    assert outcome.timestamp is None or is_plausible(outcome.timestamp)
    assert outcome.image is None or not URL_CONTROL.search(outcome.image)


# --- the WARC reader ---------------------------------------------------------------------

FIXED_ID = {"WARC-Record-ID": "<urn:uuid:00000000-0000-4000-8000-000000000000>"}  # no uuid4:
# the bytes must be the same each time hypothesis replays a case
RECORD = st.one_of(
    st.tuples(URLISH, st.binary(max_size=200)).map(
        lambda t: record("response", t[0], t[1], extra=FIXED_ID)
    ),
    st.tuples(URLISH, TEXT).map(
        lambda t: record("response", t[0], http_block(page(t[1][:40] or "T")), extra=FIXED_ID)
    ),
    st.sampled_from(["request", "metadata", "revisit", "resource", "warcinfo", "bogus"]).map(
        lambda kind: record(kind, "https://w.example/", http_block(page("Kind")), extra=FIXED_ID)
    ),
)


@st.composite
def warc_files(draw: st.DrawFn) -> tuple[bytes, bool]:
    """Records, some of them damaged: bytes flipped, cut short, or a Content-Length that lies."""
    records = draw(st.lists(RECORD, min_size=1, max_size=4))
    gzipped = draw(st.booleans())
    data = b"".join(gzip.compress(r, mtime=0) if gzipped else r for r in records)
    damage = draw(st.sampled_from(["none", "cut", "flip", "length"]))
    if damage == "cut":
        data = data[: draw(st.integers(0, len(data)))]
    elif damage == "flip" and data:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
    elif damage == "length":
        data = re.sub(rb"Content-Length: \d+", b"Content-Length: 7", data, count=1)
    return data, gzipped


@fuzz(300)
@given(warc_files())
def test_the_warc_reader_rejects_what_it_cannot_read_and_never_raises(
    case: tuple[bytes, bool],
) -> None:
    data, gzipped = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("f.warc.gz" if gzipped else "f.warc")
        path.write_bytes(data)
        for found in index_warc(str(path), "f"):
            if isinstance(found, Rejection):
                assert found.reason != RejectReason.INTERNAL_ERROR, found.detail
                continue
            try:
                payload = read_payload(str(path), found.meta, MAX_INPUT_BYTES)
            except RecordError as exc:
                assert exc.reason in set(RejectReason) - {RejectReason.INTERNAL_ERROR}
                continue
            assert len(payload) <= MAX_INPUT_BYTES + 1


def test_the_fuzz_window_is_todays() -> None:
    assert latest() > datetime.now(UTC)
