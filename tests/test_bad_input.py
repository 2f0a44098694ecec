"""Bad input of every kind: each gives a stable reject reason or a correct article, never a crash.

One folder holds every kind. Each is checked through the pure functions (discovery and
transform_unit), then one real flow run over the whole folder checks the rejects table and
that inputs = new + updated + unchanged + duplicates + rejected + skipped_unchanged.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows.core.settings import MAX_INPUT_BYTES
from flows.core.units import Article, Rejection, WorkUnit
from flows.executors.batch import process_batch, transform_unit
from flows.extract.files import count_files, discover_files
from flows.load.known import known_fingerprints
from flows.load.merge import RunRecord, load_run
from flows.load.warehouse import connect, prepare_run, staging_dir

from .items import PARAGRAPHS, item_text

T0 = 1690933501000  # 2023-08-01T23:45:01Z
ZH_TITLE = "湿地公园迎来大批候鸟"
ZH_TEXT = (
    "公园管理处介绍，经过三年的生态修复，湿地的水质明显改善，鱼虾数量增加，为候鸟提供了充足的食物。"
)
FR_TITLE = "Un été très chaud à Paris"
FR_TEXT = "Les températures ont dépassé les quarante degrés à Paris, du jamais vu depuis 1947."


def _page(url: str, title: str, text: str, charset: str) -> str:
    return (
        f'<html><head><meta charset="{charset}"><title>{title}</title>'
        f'<link rel="canonical" href="{url}"></head>'
        f"<body><article><h1>{title}</h1><p>{text}</p><p>{text}</p></article></body></html>"
    )


def _w(root: Path, name: str, data: bytes | str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def _truncated(cut_after: str, marker: str) -> str:
    text = item_text(T0, "Truncated", f"https://n.example/{marker}")
    return text[: text.index(cut_after) + len(cut_after)]


@dataclass(frozen=True)
class Kind:
    """One kind of bad input: how to make it and what must come out of it."""

    name: str  # the path under the corpus folder
    make: Callable[[Path], None]
    reason: str | None = None  # the reject reason, or None for an article
    check: Callable[[Article], bool] | None = None


KINDS: list[Kind] = [
    Kind("empty.html", lambda d: _w(d, "empty.html", b""), "empty_file"),
    Kind("blank.html", lambda d: _w(d, "blank.html", b" \r\n\t\n"), "empty_file"),
    Kind(
        "binary.png",
        lambda d: _w(d, "binary.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))),
        "not_html",
    ),
    # Cut inside the third paragraph's closing tag: two whole paragraphs are enough text.
    Kind(
        "truncated_tag.txt",
        lambda d: _w(
            d, "truncated_tag.txt", _truncated("if the economy slowed next year. </", "t")
        ),
        None,
        lambda a: a.body.startswith(PARAGRAPHS[0]) and "Opposition members" in a.body,
    ),
    # Cut a few words into the first paragraph: no sentence survives.
    Kind(
        "truncated_short.txt",
        lambda d: _w(d, "truncated_short.txt", _truncated("<div><p>The city", "s")),
        "empty_body",
    ),
    # Sparse: 11 MB on paper, no disk used; the reader stops at the limit.
    Kind(
        "huge.html",
        lambda d: os.truncate(_touch(d / "huge.html"), MAX_INPUT_BYTES + 1024 * 1024),
        "too_large",
    ),
    Kind(
        "bomb.html.gz",
        lambda d: _w(d, "bomb.html.gz", gzip.compress(b"<p>" + b"\0" * (MAX_INPUT_BYTES + 1))),
        "too_large",
    ),
    # A gzip stream cut before its end: the partial page is not the page.
    Kind(
        "cut.html.gz",
        lambda d: _w(
            d,
            "cut.html.gz",
            gzip.compress(item_text(T0, "Cut", "https://n.example/c").encode())[:-40],
        ),
        "read_error",
    ),
    Kind(
        "corrupt.html.gz",
        lambda d: _w(d, "corrupt.html.gz", b"\x1f\x8b\x08\x00junk"),
        "decode_error",
    ),
    Kind(
        "deep_nesting.html",
        lambda d: _w(
            d,
            "deep_nesting.html",
            _page("https://n.example/deep", "Deep", "<div>" * 5000 + PARAGRAPHS[0], "utf-8"),
        ),
        "parse_error",
    ),
    # Declared UTF-8, really GBK: the declaration does not decode, the detector decides.
    Kind(
        "declared_utf8_is_gbk.html",
        lambda d: _w(
            d,
            "declared_utf8_is_gbk.html",
            _page("https://cn.example/wetland", ZH_TITLE, ZH_TEXT, "utf-8").encode("gbk"),
        ),
        None,
        lambda a: a.title == ZH_TITLE and ZH_TEXT in a.body,
    ),
    # Declared Shift_JIS, really UTF-8: it "decodes" as Shift_JIS too, into mojibake.
    Kind(
        "declared_sjis_is_utf8.html",
        lambda d: _w(
            d,
            "declared_sjis_is_utf8.html",
            _page("https://fr.example/canicule", FR_TITLE, FR_TEXT, "shift_jis"),
        ),
        None,
        lambda a: a.title == FR_TITLE and FR_TEXT in a.body,
    ),
    Kind(
        "ts_not_a_number.txt",
        lambda d: _w(
            d, "ts_not_a_number.txt", item_text("1690933501000ms", "T", "https://n.example/n")
        ),
        "bad_timestamp",
    ),
    Kind(
        "ts_far_future.txt",
        lambda d: _w(
            d, "ts_far_future.txt", item_text(99_999_999_999_999, "T", "https://n.example/f")
        ),
        "bad_timestamp",
    ),
    Kind(
        "title_whitespace.txt",
        lambda d: _w(d, "title_whitespace.txt", item_text(T0, " \t\u00a0 ", "https://n.example/w")),
        "empty_title",
    ),
    Kind(
        "body_whitespace.txt",
        lambda d: _w(
            d, "body_whitespace.txt", "<!--1690933501000-->\n[T](https://n.example/b)\n---\n \n\t\n"
        ),
        "empty_body",
    ),
    Kind(
        "body_blank_paragraphs.txt",
        lambda d: _w(
            d,
            "body_blank_paragraphs.txt",
            item_text(T0, "T", "https://n.example/bp", paragraphs=(" ", "\u00a0\u00a0", "\t")),
        ),
        "empty_body",
    ),
    Kind(
        "javascript_url.txt",
        lambda d: _w(d, "javascript_url.txt", item_text(T0, "JS", "javascript:alert(1)")),
        "bad_url",
    ),
    Kind(
        "relative_url.txt",
        lambda d: _w(d, "relative_url.txt", item_text(T0, "Rel", "/news/2023/budget")),
        "bad_url",
    ),
    Kind("self_loop", lambda d: os.symlink("self_loop", d / "self_loop"), "read_error"),
    # A symlink to an enclosing folder: not followed (or the walk would never end), rejected.
    Kind(
        "sub/up", lambda d: (d / "sub").mkdir() or os.symlink("..", d / "sub" / "up"), "read_error"
    ),
    Kind("dangling.html", lambda d: os.symlink("nowhere.html", d / "dangling.html"), "read_error"),
    # Tests run as root, so chmod 000 would not stop a read: a FIFO is the unreadable file
    # (opening it would block for ever; discovery must not even try).
    Kind("fifo.html", lambda d: os.mkfifo(d / "fifo.html"), "read_error"),
    # A folder named like a file is walked; an empty one adds no input.
    Kind(
        "story.html/item.txt",
        lambda d: (
            (d / "empty.html.d").mkdir()
            or _w(d, "story.html/item.txt", item_text(T0, "Inside", "https://n.example/inside"))
        ),
        None,
        lambda a: a.url == "https://n.example/inside",
    ),
    # The same article under two spellings of scheme and host: one row, one duplicate.
    Kind(
        "case_a.txt",
        lambda d: _w(d, "case_a.txt", item_text(T0, "Case", "HTTPS://News.Example.COM/Story#top")),
        None,
        lambda a: a.url == "https://news.example.com/Story",
    ),
    Kind(
        "case_b.txt",
        lambda d: _w(
            d, "case_b.txt", item_text(T0 + 1000, "Case", "https://news.example.com/Story")
        ),
        None,
        lambda a: a.url == "https://news.example.com/Story",
    ),
]


def _touch(path: Path) -> Path:
    path.touch()
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad") / "in"
    root.mkdir()
    for kind in KINDS:
        kind.make(root)
    return root


@pytest.fixture(scope="module")
def outcomes(corpus: Path) -> dict[str, Article | Rejection]:
    """What discovery and the transform make of every input, by path under the corpus."""
    out: dict[str, Article | Rejection] = {}
    for item in discover_files([str(corpus)]):
        rel = str(Path(item.source).relative_to(corpus))
        out[rel] = transform_unit(item) if isinstance(item, WorkUnit) else item
    return out


def test_there_are_at_least_15_kinds() -> None:
    assert len({k.reason or k.name for k in KINDS}) >= 15
    assert len(KINDS) == len({k.name for k in KINDS})


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_kind(kind: Kind, outcomes: dict[str, Article | Rejection]) -> None:
    outcome = outcomes[kind.name]
    if kind.reason is not None:
        assert isinstance(outcome, Rejection), outcome
        assert outcome.reason == kind.reason, outcome.detail
        assert outcome.detail
    else:
        assert isinstance(outcome, Article), outcome
        assert kind.check is not None and kind.check(outcome), outcome


def test_every_input_is_discovered_once(corpus: Path, outcomes: dict[str, object]) -> None:
    # The empty folder named like a file adds nothing; nothing else is skipped or doubled.
    assert sorted(outcomes) == sorted(k.name for k in KINDS)
    assert count_files([str(corpus)]) == len(KINDS)
    assert "symlink loop" in outcomes["sub/up"].detail  # type: ignore[attr-defined]


def test_symlink_loops_do_not_multiply_a_glob(corpus: Path) -> None:
    # glob's `**` follows symlinked folders: two loops would make it run practically for ever.
    os.symlink("..", corpus / "sub" / "up2")
    try:
        found = [u.source for u in discover_files([f"{corpus}/**"])]
    finally:
        (corpus / "sub" / "up2").unlink()
    assert len(found) == len(set(found)) == len(KINDS) + 1


def test_file_vanishing_before_the_read_is_a_read_error(tmp_path: Path) -> None:
    path = tmp_path / "gone.txt"
    path.write_text(item_text(T0, "Gone", "https://n.example/gone"), "utf-8")
    (unit,) = discover_files([str(path)])
    path.unlink()
    outcome = transform_unit(unit)  # type: ignore[arg-type]
    assert isinstance(outcome, Rejection) and outcome.reason == "read_error"


def run_like_the_flow(
    warehouse: Path, src: Path, run_id: str, *, between: Callable[[], None] | None = None
) -> dict:
    """Discover, transform and load like the flow does, on a real DuckDB file: what discovery
    skips as known, the transform of the rest, the load; ``between`` runs after the transform.
    Returns the inputs processed (``fresh``), the load's counts and the rejects' reasons."""
    prepare_run(warehouse)
    stage = staging_dir(warehouse, run_id)
    stage.mkdir(parents=True)
    units = [u for u in discover_files([str(src)]) if isinstance(u, WorkUnit)]
    known = known_fingerprints(warehouse, [u.source for u in units])
    fresh = [u for u in units if known.get(u.source) != u.fingerprint]
    result = process_batch(fresh, str(stage), "000001")
    if between is not None:
        between()
    record = RunRecord(
        run_id, None, datetime.now(UTC), str(src), len(units), len(units) - len(fresh), 1
    )
    parts = [result.articles_path] if result.articles_path else []
    counts, _ = load_run(
        warehouse, record, parts, [result.rejects_path] if result.rejects_path else []
    )
    return {
        "fresh": len(fresh),
        "new": counts.new,
        "updated": counts.updated,
        "unchanged": counts.unchanged,
        "reasons": result.reasons,
    }


def test_file_changing_around_the_read_is_processed_again(tmp_path: Path, warehouse: Path) -> None:
    """The fingerprint recorded is the one taken *before* the read, so a file that changes
    after discovery is never marked done with content we did not read: the next run redoes it.
    (A fingerprint taken after the read could vouch for bytes the run never saw.)"""
    src = tmp_path / "in"
    path = src / "live.txt"
    src.mkdir()
    path.write_text(item_text(T0, "Live", "https://n.example/live"), "utf-8")
    recorded = discover_files([str(src)])
    first_fp = next(u.fingerprint for u in recorded if isinstance(u, WorkUnit))
    extra = "A late correction added one more sentence to the report after it was first filed."

    def append() -> None:  # the file grows after it was read, before the run commits
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"<p>{extra}</p>")

    assert run_like_the_flow(warehouse, src, "run1", between=append)["new"] == 1
    con = connect(warehouse, read_only=True)
    try:
        assert con.execute("SELECT fingerprint FROM source_state").fetchall() == [(first_fp,)]
        assert extra not in con.execute("SELECT body FROM articles").fetchall()[0][0]
    finally:
        con.close()
    second = run_like_the_flow(warehouse, src, "run2")
    assert (second["fresh"], second["updated"]) == (1, 1)
    con = connect(warehouse, read_only=True)
    try:
        assert extra in con.execute("SELECT body FROM articles").fetchall()[0][0]
    finally:
        con.close()
    assert run_like_the_flow(warehouse, src, "run3")["fresh"] == 0  # now it is done


@pytest.mark.usefixtures("prefect_api")
@pytest.mark.timeout(120)
def test_flow_run_accounts_for_every_kind(corpus: Path, warehouse: Path) -> None:
    from flows.ingest import ingest

    run = ingest(sources=[str(corpus)], warehouse=str(warehouse), batch_size=8, workers=1)
    summary = run
    rejected = {k.name: k.reason for k in KINDS if k.reason}
    assert summary["inputs"] == len(KINDS)
    assert summary["rejected"] == len(rejected)
    assert (summary["new"], summary["duplicates"]) == (len(KINDS) - len(rejected) - 1, 1)
    assert summary["inputs"] == sum(
        summary[k]
        for k in ("new", "updated", "unchanged", "duplicates", "rejected", "skipped_unchanged")
    )
    con = connect(warehouse, read_only=True)
    try:
        rows = con.execute("SELECT source, reason FROM rejects").fetchall()
        urls = [r[0] for r in con.execute("SELECT url FROM articles ORDER BY url").fetchall()]
        title = con.execute(
            "SELECT title FROM articles WHERE url = 'https://fr.example/canicule'"
        ).fetchall()
    finally:
        con.close()
    assert {str(Path(s).relative_to(corpus)): r for s, r in rows} == rejected
    assert len(urls) == len(set(urls)) == summary["new"]
    assert "https://news.example.com/Story" in urls and title == [(FR_TITLE,)]
