"""Stories and article metadata through the real pipeline: discovery, the transform in a
worker batch, the load into a real DuckDB file (tests/test_bad_input.py's helper)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flows.core.settings import LANG_GLANCE_CHARS, STORY_WINDOW_DAYS
from flows.core.units import Article
from flows.load.warehouse import connect
from flows.transform.about import (
    choose_language,
    detect_language,
    language_code,
    read_about,
    settle_languages,
)
from flows.transform.article import parse_html
from flows.transform.signature import SIGN_CHUNK, sign_articles, signature, similarity, tokens

from .test_bad_input import run_like_the_flow

WIRE = (
    "The regional water authority said on Monday that reservoir levels had fallen to their "
    "lowest point in three decades after a summer with almost no rain across the valley.",
    "Engineers have begun pumping from two emergency wells, and households in eleven towns "
    "were asked to limit garden watering to one evening a week until further notice.",
    "Farmers' groups warned that the restrictions would hit the autumn harvest hard, while "
    "the authority's chief executive promised compensation for the worst affected growers.",
    "A spokesperson added that a new pipeline linking the northern lakes to the valley would "
    "be finished next spring, two years ahead of the schedule announced in the last budget.",
)
OTHER = (
    "The city's orchestra will open its season with a programme of late romantic symphonies "
    "conducted by a young guest from Helsinki making her first appearance in the hall.",
    "Ticket sales have doubled since the concert hall reopened after its renovation, which "
    "replaced the seats, rebuilt the stage and gave the building a new glass entrance.",
    "Subscribers can now choose their own series of six concerts, and students under twenty "
    "five will pay a flat price of ten euros for any seat left an hour before the start.",
)
GERMAN = (
    "Die Stadtverwaltung hat am Dienstag beschlossen, die Öffnungszeiten der Bibliotheken im "
    "kommenden Winter deutlich zu verlängern und an Sonntagen zusätzliche Lesungen anzubieten.",
    "Nach Angaben der Bürgermeisterin sollen die Kosten aus einem Förderprogramm des Landes "
    "gedeckt werden, das für kulturelle Einrichtungen in kleineren Gemeinden gedacht ist.",
)


def page(
    url: str,
    title: str,
    paragraphs: tuple[str, ...],
    published: str,
    *,
    lang: str = "en",
    author: str = "Dana Reyes",
    site: str = "Valley Post",
    related: tuple[str, ...] = (),
) -> str:
    """A news page: the article inside the site's template (navigation, share bar, related
    links, footer)."""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    links = "".join(f'<li><a href="/r{i}">{t}</a></li>' for i, t in enumerate(related))
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><title>{title} | {site}</title>'
        f'<link rel="canonical" href="{url}">'
        f'<meta property="og:site_name" content="{site}">'
        f'<meta property="article:published_time" content="{published}">'
        f'<meta name="author" content="By {author}">'
        '<meta property="article:tag" content="drought"><meta property="article:tag" '
        'content="water"></head><body><nav><a href="/">Home</a><a href="/news">News</a>'
        f'<a href="/sport">Sport</a></nav><article><h1>{title}</h1>{body}</article>'
        '<div class="share">Share on Facebook Twitter Email</div>'
        f"<aside><h2>Related</h2><ul>{links}</ul></aside>"
        f"<footer>© {site}. All rights reserved.</footer></body></html>"
    )


def _stories(warehouse: Path) -> dict[str, str]:
    con = connect(warehouse, read_only=True)
    try:
        return dict(con.execute("SELECT url, story_id FROM article_stories").fetchall())
    finally:
        con.close()


def test_copies_share_a_story_that_stays_put_and_others_do_not(
    tmp_path: Path, warehouse: Path
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    first = "https://valleypost.example/water"
    (src / "a.html").write_text(
        page(first, "Reservoirs at a 30-year low", WIRE, "2024-05-02T08:00:00Z"), "utf-8"
    )
    # Same site and template, same related-links list, another story.
    (src / "b.html").write_text(
        page(
            "https://valleypost.example/orchestra",
            "Orchestra opens its season",
            OTHER,
            "2024-05-02T09:00:00Z",
            related=("Reservoirs at a 30-year low", "Orchestra opens its season"),
        ),
        "utf-8",
    )
    assert run_like_the_flow(warehouse, src, "run1")["new"] == 2
    before = _stories(warehouse)
    assert before[first] != before["https://valleypost.example/orchestra"]

    # Later copies elsewhere: another template and headline, a sentence added, one cut.
    copy = "https://daily.example/2024/05/drought-valley"
    edited = (*WIRE[:3], "Residents can report leaks through the authority's phone line.")
    (src / "c.html").write_text(
        page(copy, "Valley told to save water", edited, "2024-05-02T11:30:00Z", site="Daily"),
        "utf-8",
    )
    german = "https://zeitung.example/bibliothek"
    (src / "d.html").write_text(
        page(german, "Bibliotheken länger offen", GERMAN, "2024-05-03T07:00:00Z", site="Z"),
        "utf-8",
    )
    assert run_like_the_flow(warehouse, src, "run2")["new"] == 2
    after = _stories(warehouse)
    assert {url: after[url] for url in before} == before  # nothing renumbered
    assert after[copy] == after[first]
    assert after[german] not in (after[first], after["https://valleypost.example/orchestra"])

    assert run_like_the_flow(warehouse, src, "run3")["new"] == 0
    assert _stories(warehouse) == after  # a re-run changes no story id

    con = connect(warehouse, read_only=True)
    try:
        story = con.execute(
            "SELECT title, articles, hosts, first_url FROM stories WHERE story_id = ?",
            [after[first]],
        ).fetchone()
        meta = dict(
            (row[0], row[1:])
            for row in con.execute(
                "SELECT url, language, author, sitename, tags FROM article_meta"
            ).fetchall()
        )
        by_language = con.execute(
            "SELECT language, sum(articles) FROM articles_per_language GROUP BY ALL ORDER BY 1"
        ).fetchall()
        authors = con.execute(
            "SELECT host, author, articles FROM top_authors WHERE rank_in_host = 1 ORDER BY 1"
        ).fetchall()
    finally:
        con.close()
    assert story == (
        "Reservoirs at a 30-year low",
        2,
        ["daily.example", "valleypost.example"],
        first,
    )
    assert meta[first] == ("en", "Dana Reyes", "Valley Post", ["drought", "water"])
    # The template says lang="en" on a page in German: the text wins.
    assert meta[german][0] == "de"
    assert by_language == [("de", 1), ("en", 3)]
    assert ("valleypost.example", "Dana Reyes", 2) in authors


def test_signature_is_the_body_only_and_short_bodies_have_none() -> None:
    text = "\n".join(WIRE)
    assert similarity(signature(text), signature(text.replace("Monday", "Sunday"))) > 0.8
    assert similarity(signature(text), signature("\n".join(OTHER))) < 0.2
    assert signature("Too short to tell one story from another.") is None


def test_a_batch_is_signed_as_each_body_alone() -> None:
    """sign_articles (one MinHash call per SIGN_CHUNK articles) gives every article the value
    signature gives its body alone, across chunk boundaries; a lone surrogate, which the
    library cannot encode, is no word and never reaches it."""
    bodies = [
        f"{i} " + "\n".join(WIRE).replace("Monday", f"day {i}") for i in range(SIGN_CHUNK + 5)
    ]
    bodies[3] = "Too short to tell one story from another."
    bodies[SIGN_CHUNK + 1] = "\n".join(OTHER) + " \ud800"

    def article(i: int, body: str) -> Article:
        return Article(f"https://e.example/{i}", None, "t", body, None, str(i), "h", None)

    articles = [article(i, b) for i, b in enumerate(bodies)]
    sign_articles(articles)
    for one, body in zip(articles, bodies, strict=True):
        assert one.word_count == len(tokens(body))
        assert one.minhash == signature(body)
    assert articles[3].minhash is None
    assert all(one.minhash is not None for one in articles[SIGN_CHUNK - 1 :])


def test_one_articles_failure_in_the_batch_steps_costs_only_its_own_side_columns() -> None:
    """Languages and signatures run after a batch's transforms, outside each document's
    isolation: a body neither step can read (here not text at all) loses its own side
    columns, and its neighbours keep theirs."""
    good = Article("https://e.example/g", None, "t", "\n".join(WIRE), None, "g", "h", None)
    bad = Article("https://e.example/b", None, "t", None, None, "b", "h", None, language="de")  # type: ignore[arg-type]
    settle_languages([bad, good])
    sign_articles([bad, good])
    assert (bad.language, bad.minhash, bad.word_count) == ("de", None, None)
    assert good.language == "en" and good.minhash == signature(good.body)


def test_the_language_a_page_states_and_when_the_text_overrules_it() -> None:
    assert [language_code(v) for v in ("en-US", "pt_BR", "ZH-Hans", "und", "", 42)] == [
        "en",
        "pt",
        "zh",
        None,
        None,
        None,
    ]
    tree = parse_html('<html><head><meta property="og:locale" content="fr_FR"></head></html>')
    assert read_about(tree, {}, {}).language == "fr"
    assert choose_language("fr", "\n".join(GERMAN)) == "de"  # confidently another language
    assert choose_language("en", "OK") == "en"  # too little text to overrule the page
    assert choose_language(None, "\n".join(WIRE)) == "en"
    assert choose_language("de", "\n".join(GERMAN)) == "de"  # settled at a glance
    # A dateline of times first: the glance is unsure, the longer sample reads the German.
    dateline = "Berlin, 07.12.2026 (AP) - " + "12:30 " * 30 + " ".join(GERMAN)
    assert detect_language(dateline, LANG_GLANCE_CHARS)[0] != "de"
    assert choose_language(None, dateline) == "de"


def test_an_article_whose_signature_is_missing_or_damaged_still_loads_alone(
    warehouse: Path,
) -> None:
    """Side columns never cost an article: a staged row without a signature (a short body)
    or with a damaged one (read back from a part on disk) is loaded, in a story of its own."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from flows.core.schema import STAGING_SCHEMA
    from flows.load.merge import RunRecord, load_run
    from flows.load.warehouse import prepare_run, staging_dir

    prepare_run(warehouse)
    stage = staging_dir(warehouse, "r1")
    stage.mkdir(parents=True)
    good = signature("\n".join(WIRE))
    rows = [
        {"url": "https://a.example/1", "minhash": good},
        {"url": "https://b.example/1", "minhash": good[:3]},  # damaged: not a signature
        {"url": "https://c.example/1", "minhash": None, "language": None},
    ]
    for i, extra in enumerate(rows):
        extra |= {"title": "T", "body": "\n".join(WIRE), "source": f"/in/{i}", "seq": i}
        extra |= {"content_hash": f"{i:032x}", "timestamp": None, "image": None}
    part = stage / "articles-000001.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=STAGING_SCHEMA), part)
    record = RunRecord("r1", None, datetime.now(UTC), "test", 3, 0, 1)
    counts, _ = load_run(warehouse, record, [str(part)], [])
    assert counts.new == 3
    stories = _stories(warehouse)
    assert len(set(stories.values())) == 3  # the same body, but only one is signed


def _bands(warehouse: Path) -> list[tuple[str, str, int]]:
    """``(url, day, bands)`` per url of story_bands."""
    con = connect(warehouse, read_only=True)
    try:
        return con.execute(
            "SELECT url, day::VARCHAR, count(*) FROM story_bands GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()


FIRST = datetime(2024, 5, 2, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("published", "joins"),
    [
        # The window is what the feature promises: a copy whose day is up to STORY_WINDOW_DAYS
        # from the first's joins its story, late in the day or early, after it or before it.
        (FIRST.replace(hour=23, minute=30) + timedelta(days=STORY_WINDOW_DAYS), True),
        (FIRST.replace(hour=0, minute=30) - timedelta(days=STORY_WINDOW_DAYS), True),
        # A day further off, it starts its own story, though its text is the same.
        (FIRST.replace(hour=0, minute=30) + timedelta(days=STORY_WINDOW_DAYS + 1), False),
        (FIRST.replace(hour=23, minute=30) - timedelta(days=STORY_WINDOW_DAYS + 1), False),
    ],
    ids=["window-after", "window-before", "a-day-after", "a-day-before"],
)
def test_a_copy_joins_a_story_only_within_the_window_of_days(
    tmp_path: Path, warehouse: Path, published: datetime, joins: bool
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    first = "https://valleypost.example/water"
    stamp = FIRST.strftime("%Y-%m-%dT%H:%M:%SZ")
    (src / "a.html").write_text(page(first, "Reservoirs low", WIRE, stamp), "utf-8")
    assert run_like_the_flow(warehouse, src, "run1")["new"] == 1
    copy = "https://daily.example/drought"
    when = published.strftime("%Y-%m-%dT%H:%M:%SZ")
    (src / "b.html").write_text(page(copy, "Save water", WIRE, when, site="Daily"), "utf-8")
    assert run_like_the_flow(warehouse, src, "run2")["new"] == 1
    stories = _stories(warehouse)
    assert (stories[copy] == stories[first]) is joins
    # Each signed article's 64 bands are filed under its own publication day.
    assert _bands(warehouse) == sorted(
        [(first, "2024-05-02", 64), (copy, published.date().isoformat(), 64)]
    )


def test_an_updated_article_keeps_its_story_and_its_bands_move_to_its_new_day(
    tmp_path: Path, warehouse: Path
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    first = "https://valleypost.example/water"
    (src / "a.html").write_text(
        page(first, "Reservoirs low", WIRE, "2024-05-02T08:00:00Z"), "utf-8"
    )
    assert run_like_the_flow(warehouse, src, "run1")["new"] == 1
    before = _stories(warehouse)
    edited = (*WIRE[:3], "Residents can report leaks through the authority's phone line.")
    (src / "a.html").write_text(
        page(first, "Reservoirs low", edited, "2024-06-20T08:00:00Z"), "utf-8"
    )
    assert run_like_the_flow(warehouse, src, "run2")["updated"] == 1
    assert _stories(warehouse) == before
    assert _bands(warehouse) == [(first, "2024-06-20", 64)]  # the old day's bands are gone


def test_a_warehouse_made_before_the_window_gets_dated_bands_in_place(
    tmp_path: Path, warehouse: Path
) -> None:
    """A warehouse whose story_bands has no day (band, value, url) and whose signatures have
    none: the next run dates the signatures from the articles, rebuilds the bands, and its
    copies join the stories of the old articles."""
    src = tmp_path / "in"
    src.mkdir()
    first = "https://valleypost.example/water"
    (src / "a.html").write_text(
        page(first, "Reservoirs low", WIRE, "2024-05-02T08:00:00Z"), "utf-8"
    )
    assert run_like_the_flow(warehouse, src, "run1")["new"] == 1
    con = connect(warehouse)
    try:  # back to the layout the warehouse had before (the old DDL)
        con.execute("CREATE TEMP TABLE old AS SELECT url, minhash FROM story_signatures")
        con.execute("DROP TABLE story_signatures")
        con.execute("DROP TABLE story_bands")
        con.execute(
            "CREATE TABLE story_signatures (url VARCHAR PRIMARY KEY, minhash UINTEGER[] NOT NULL)"
        )
        con.execute("INSERT INTO story_signatures SELECT * FROM old")
        con.execute(
            "CREATE TABLE story_bands (band UTINYINT NOT NULL, value UHUGEINT NOT NULL, "
            "url VARCHAR NOT NULL)"
        )
        con.execute("INSERT INTO story_bands VALUES (0, 1, ?)", [first])
    finally:
        con.close()
    before = _stories(warehouse)
    copy = "https://daily.example/drought"
    (src / "b.html").write_text(
        page(copy, "Save water", WIRE, "2024-05-03T08:00:00Z", site="Daily"), "utf-8"
    )
    assert run_like_the_flow(warehouse, src, "run2")["new"] == 1
    after = _stories(warehouse)
    assert after[copy] == after[first] == before[first]
    assert _bands(warehouse) == [(copy, "2024-05-03", 64), (first, "2024-05-02", 64)]


def test_an_undated_article_is_filed_under_the_day_of_the_run_that_loads_it(
    warehouse: Path,
) -> None:
    """No publication date: the article's day is its run's (the run record's start, a date
    given here, not the clock's), and the window counts from it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from flows.core.schema import STAGING_SCHEMA
    from flows.load.merge import RunRecord, load_run
    from flows.load.warehouse import prepare_run, staging_dir

    good = signature("\n".join(WIRE))
    runs = [
        ("r1", "https://a.example/1", datetime(2024, 5, 2, 23, 0, tzinfo=UTC)),
        (
            "r2",
            "https://b.example/1",
            datetime(2024, 5, 2, 23, 0, tzinfo=UTC) + timedelta(days=STORY_WINDOW_DAYS + 1),
        ),
        (
            "r3",
            "https://c.example/1",
            datetime(2024, 5, 2, 1, 0, tzinfo=UTC) + timedelta(days=STORY_WINDOW_DAYS),
        ),
    ]
    prepare_run(warehouse)
    for run_id, url, started in runs:
        stage = staging_dir(warehouse, run_id)
        stage.mkdir(parents=True)
        row = {"url": url, "minhash": good, "title": "T", "body": "\n".join(WIRE)}
        row |= {"source": f"/in/{run_id}", "seq": 0, "content_hash": f"{run_id:0>32}"}
        row |= {"timestamp": None, "image": None}
        part = stage / "articles-000001.parquet"
        pq.write_table(pa.Table.from_pylist([row], schema=STAGING_SCHEMA), part)
        counts, _ = load_run(
            warehouse, RunRecord(run_id, None, started, "t", 1, 0, 1), [str(part)], []
        )
        assert counts.new == 1
    stories = _stories(warehouse)
    assert stories["https://b.example/1"] != stories["https://a.example/1"]  # 15 days after
    assert stories["https://c.example/1"] == stories["https://a.example/1"]  # 14 days after
    assert [day for _, day, _ in _bands(warehouse)] == ["2024-05-02", "2024-05-17", "2024-05-16"]


def test_periods_gather_days_whose_windows_overlap() -> None:
    from datetime import date

    from flows.load.stories import periods

    days = [date(2024, 1, 1), date(2024, 1, 29), date(2024, 1, 30), date(2024, 3, 1)]
    assert periods(days, 14) == [(date(2024, 1, 1), date(2024, 1, 30)), (date(2024, 3, 1),) * 2]
    assert periods(days, 0) == [(d, d) for d in days]
    assert periods([], 14) == []
