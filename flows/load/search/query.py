"""Searching: our query language turned into tantivy queries, run with the filters, every hit
checked against DuckDB, snippets cut from the current bodies.

The language: words (any may match; more matches rank higher), ``"a phrase"``, ``+required``,
``-excluded``, ``prefix*`` and ``title:word`` (also ``title:"a phrase"``, ``+title:word``).
Words match title and body, a match in the title weighing more (BM25 per field). A Chinese
or Japanese word is a phrase of its characters (flows/load/search/tokenize.py), so it is found
inside running text; so is a Latin word written against CJK text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import duckdb
import tantivy

from flows.core.sqlfiles import sql
from flows.load.search.index import (
    Progress,
    SearchIndexError,
    latest_run,
    open_index,
    pending_runs,
    sync,
)
from flows.load.search.tokenize import terms
from flows.load.warehouse import WarehouseLocked, connect, run_lock

MAX_QUERY_CHARS = 1_000
MAX_CLAUSES = 32
MAX_LIMIT = 1_000
MAX_HOST_CHARS = 253
TITLE_BOOST = 2.0  # a word in the headline says more about the article than one in its body
SNIPPET_BYTES = 200  # tantivy measures a fragment in UTF-8 bytes
SNIPPET_SCAN = 10_000  # characters of a body a snippet is looked for in (its cost grows with them)
MARK = "**"
SNIPPET_LEAD = (
    24  # characters kept before a snippet's first match  # around each matched word of a snippet
)
# Hits are checked against DuckDB; a stale index may hold a few outdated ones, so a search
# asks for a few more than it shows, and for more again (a bounded number of times) if it
# must. Each hit read costs its stored body's decompression: not many more.
OVERFETCH = 5
FETCH_ROUNDS = 6
_CLAUSE = re.compile(
    r'(?P<sign>[+-]?)(?:(?P<field>title):)?(?:"(?P<phrase>[^"]*)"?|(?P<word>[^\s"]+))'
)


# Han, Hiragana and Katakana, as tokenize.py cuts them (Python's re has no \p{Han})
_CJK_CLASS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_CJK_CHAR = re.compile(f"[{_CJK_CLASS}]")
_CJK_RUN = re.compile(f"[{_CJK_CLASS}]+")


class BadQuery(ValueError):
    """A query or filter that cannot be searched for; the message says why."""


@dataclass(frozen=True, slots=True)
class Clause:
    """One part of a query: its words, how it must occur, where, and how it matches."""

    occur: tantivy.Occur
    text: str
    phrase: bool = False
    prefix: bool = False
    title_only: bool = False


@dataclass(frozen=True, slots=True)
class Hit:
    """One result: the article as it is in ``articles`` now, its score and a snippet."""

    url: str
    timestamp: datetime | None
    title: str
    score: float
    snippet: str

    def record(self) -> dict[str, Any]:
        """The hit as plain values (the Prefect task's result, JSON output)."""
        return asdict(self)


def parse(query: str) -> list[Clause]:
    """The clauses of a query in our language; BadQuery when it is too long or has none."""
    if len(query) > MAX_QUERY_CHARS:
        raise BadQuery(f"the query is {len(query)} characters; at most {MAX_QUERY_CHARS}")
    clauses = []
    for m in _CLAUSE.finditer(query):
        occur = {"+": tantivy.Occur.Must, "-": tantivy.Occur.MustNot}.get(
            m["sign"], tantivy.Occur.Should
        )
        title_only = m["field"] is not None
        if m["phrase"] is not None:
            clause = Clause(occur, m["phrase"], phrase=True, title_only=title_only)
        else:
            word = m["word"]
            prefix = word.endswith("*") and len(word.rstrip("*")) > 0
            clause = Clause(occur, word.rstrip("*"), prefix=prefix, title_only=title_only)
        if terms(clause.text):  # punctuation alone matches nothing and is dropped
            clauses.append(clause)
    if len(clauses) > MAX_CLAUSES:
        raise BadQuery(f"the query has {len(clauses)} parts; at most {MAX_CLAUSES}")
    if not any(c.occur != tantivy.Occur.MustNot for c in clauses):
        raise BadQuery(f"nothing to search for in {query!r}: give at least one word to find")
    return clauses


def _field_query(
    schema: tantivy.Schema, field: str, words: list[str], prefix: bool
) -> tantivy.Query:
    if prefix and len(words) == 1:
        # every term with the prefix (a phrase-prefix query would stop at its first 50)
        return tantivy.Query.regex_query(schema, field, re.escape(words[0]) + ".*")
    phrase: list[str | tuple[int, str]] = list(words)
    if prefix:
        return tantivy.Query.phrase_prefix_query(schema, field, phrase)
    if len(words) == 1:
        return tantivy.Query.term_query(schema, field, words[0])
    return tantivy.Query.phrase_query(schema, field, phrase)


def clause_query(schema: tantivy.Schema, clause: Clause) -> tantivy.Query:
    """One clause over the title (boosted) and the body, or the title alone."""
    words = terms(clause.text)
    title = tantivy.Query.boost_query(
        _field_query(schema, "title", words, clause.prefix), TITLE_BOOST
    )
    if clause.title_only:
        return title
    body = _field_query(schema, "body", words, clause.prefix)
    return tantivy.Query.boolean_query(
        [(tantivy.Occur.Should, title), (tantivy.Occur.Should, body)]
    )


def text_query(schema: tantivy.Schema, clauses: Sequence[Clause]) -> tantivy.Query:
    """The clauses together: required and excluded ones as said, the others ranking."""
    return tantivy.Query.boolean_query([(c.occur, clause_query(schema, c)) for c in clauses])


def _bound(value: date | datetime | None, end: bool) -> datetime | None:
    """A filter bound in UTC; a date is the whole day (``until`` takes it in)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    day = datetime.combine(value, time(), tzinfo=UTC)
    return day + timedelta(days=1) if end else day


def filtered(
    schema: tantivy.Schema,
    query: tantivy.Query,
    since: date | datetime | None,
    until: date | datetime | None,
    host: str | None,
) -> tantivy.Query:
    """The query limited to a time range (``since`` included, ``until`` too) and a host."""
    lower, upper = _bound(since, False), _bound(until, True)
    parts = [(tantivy.Occur.Must, query)]
    if lower is not None or upper is not None:
        if lower is not None and upper is not None and lower >= upper:
            raise BadQuery(f"since ({lower:%Y-%m-%d %H:%M}) is not before until")
        parts.append(
            (
                tantivy.Occur.Must,
                tantivy.Query.range_query(
                    schema,
                    "timestamp",
                    tantivy.FieldType.Date,
                    lower,
                    upper,
                    include_lower=True,
                    # a date takes in its whole day: up to the next midnight, excluded
                    include_upper=upper is None or isinstance(until, datetime),
                ),
            )
        )
    if host is not None:
        parts.append((tantivy.Occur.Must, tantivy.Query.term_query(schema, "host", host)))
    return tantivy.Query.boolean_query(parts) if len(parts) > 1 else query


def check_host(host: str | None) -> str | None:
    """A host filter as the index holds hosts (lower case), or BadQuery."""
    if host is None:
        return None
    host = host.strip().lower()
    if not host or len(host) > MAX_HOST_CHARS or any(c in host for c in "/:?# \t"):
        raise BadQuery(f"--host must be a host name such as news.example.com, got {host!r}")
    return host


def check_limit(limit: int) -> int:
    """The number of results asked for, within 1..MAX_LIMIT."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise BadQuery(
            f"limit (--limit) must be a whole number from 1 to {MAX_LIMIT}, got {limit!r}"
        )
    return limit


def ready_index(
    warehouse: Path,
    con: duckdb.DuckDBPyConnection,
    lock_wait_s: float = 5.0,
    progress: Progress | None = None,
) -> tuple[tantivy.Index, list[str]]:
    """The index and the runs it is behind by. It is brought in step first when it is
    missing, behind or not to be trusted and no run is writing the warehouse; while one is,
    it is used as it is, and the hits of urls those runs changed are left out."""
    opened = open_index(warehouse)
    if opened is not None and opened[1]["run_id"] == latest_run(con):
        return opened[0], []
    try:
        with run_lock(warehouse, lock_wait_s):
            sync(warehouse, progress)
    except WarehouseLocked:
        behind = None if opened is None else pending_runs(con, opened[1]["run_id"])  # type: ignore[arg-type]
        if opened is None or behind is None:
            raise SearchIndexError(
                f"the search index of {warehouse} must be built again and a run is writing "
                "the warehouse; try again when it has finished"
            ) from None
        return opened[0], behind
    reopened = open_index(warehouse)
    if reopened is None:
        raise SearchIndexError(f"the search index of {warehouse} could not be built")
    return reopened[0], []


def _seconds(value: object) -> int | None:
    """A timestamp to the second (the index keeps dates at that precision)."""
    return int(value.timestamp()) if isinstance(value, datetime) else None


def _marked(snippet: tantivy.Snippet, words: Sequence[str]) -> str:
    """The snippet's text with each matched word between MARKs (ranges are byte offsets).

    tantivy marks every indexed term it finds, and a CJK word's terms are its characters: a
    run of marked CJK characters is kept only when it holds one of the query's CJK ``words``
    (so 運転手 is not marked for 自動運転); other marks are whole words and stay.
    """
    raw = snippet.fragment().encode("utf-8")
    runs: list[list[int]] = []
    for span in sorted(snippet.highlighted(), key=lambda r: r.start):
        if runs and span.start <= runs[-1][1]:
            runs[-1][1] = max(runs[-1][1], span.end)
        else:
            runs.append([span.start, span.end])
    out, at = [], 0
    for start, end in runs:
        text = raw[start:end].decode("utf-8", "replace")
        if _CJK_CHAR.match(text) and not any(w in text.lower() for w in words):
            continue
        out += [raw[at:start].decode("utf-8", "replace"), MARK, text, MARK]
        at = end
    out.append(raw[at:].decode("utf-8", "replace"))
    text = " ".join("".join(out).split())
    first = text.find(MARK)
    if first > SNIPPET_LEAD:  # start near the first match: a table shows a snippet's start
        cut = text.rfind(" ", 0, first - SNIPPET_LEAD // 2)
        text = "…" + text[(cut + 1 if cut > 0 else first - SNIPPET_LEAD // 2) :]
    return text


def _cjk_words(clauses: Sequence[Clause]) -> list[str]:
    """The CJK words of the query's positive clauses, as runs of their characters."""
    words = []
    for clause in clauses:
        for run in _CJK_RUN.findall(
            "".join(terms(clause.text)) if clause.occur != tantivy.Occur.MustNot else ""
        ):
            words.append(run)
    return words


class Session:
    """The index and a read-only connection held open for many searches (a service, the
    benchmark); ``search`` opens one for a single query."""

    def __init__(
        self,
        warehouse: Path,
        *,
        wait_s: float = 30.0,
        lock_wait_s: float = 5.0,
        progress: Progress | None = None,
    ) -> None:
        self.con = connect(warehouse, read_only=True, wait_s=wait_s)
        try:
            self.index, self.behind = ready_index(warehouse, self.con, lock_wait_s, progress)
        except BaseException:
            self.con.close()
            raise

    def search(
        self,
        query: str,
        limit: int = 10,
        since: date | datetime | None = None,
        until: date | datetime | None = None,
        host: str | None = None,
    ) -> list[Hit]:
        """Articles ranked by relevance to ``query``, as ``search`` says."""
        clauses = parse(query)
        return _ranked(
            self.index,
            self.con,
            self.behind,
            clauses,
            check_limit(limit),
            since,
            until,
            check_host(host),
        )

    def close(self) -> None:
        """Release the database file."""
        self.con.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def search(
    warehouse: Path,
    query: str,
    limit: int = 10,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
    host: str | None = None,
    *,
    wait_s: float = 30.0,
    lock_wait_s: float = 5.0,
    progress: Progress | None = None,
) -> list[Hit]:
    """Articles ranked by relevance to ``query`` (BM25, title weighted), only as they are in
    ``articles`` now: a hit whose url is gone or whose article changed is left out."""
    check_limit(limit)
    check_host(host)
    parse(query)  # a bad query is said before anything is opened or built
    with Session(warehouse, wait_s=wait_s, lock_wait_s=lock_wait_s, progress=progress) as session:
        return session.search(query, limit, since, until, host)


def _ranked(
    index: tantivy.Index,
    con: duckdb.DuckDBPyConnection,
    behind: Sequence[str],
    clauses: Sequence[Clause],
    limit: int,
    since: date | datetime | None,
    until: date | datetime | None,
    host: str | None,
) -> list[Hit]:
    """The query run on the index; each hit checked against ``articles`` (``con``): its url
    still there with the title and timestamp the index holds, and not changed by a run the
    index is ``behind`` by."""
    schema = index.schema
    ranked = text_query(schema, clauses)
    full = filtered(schema, ranked, since, until, host)
    searcher = index.searcher()
    snippets = tantivy.SnippetGenerator.create(
        searcher,
        text_query(schema, [c for c in clauses if c.occur != tantivy.Occur.MustNot]),
        schema,
        "body",
    )
    snippets.set_max_num_chars(SNIPPET_BYTES)
    cjk = _cjk_words(clauses)
    hits: list[Hit] = []
    seen: set[str] = set()
    offset, want = 0, limit + OVERFETCH
    for _ in range(FETCH_ROUNDS):
        found = searcher.search(full, limit=want, offset=offset, count=False).hits
        candidates = []
        for score, address in found:
            doc = searcher.doc(address)
            url = str(doc.get_first("url"))
            if url not in seen:
                seen.add(url)
                candidates.append((float(score), url, doc))
        urls = [c[1] for c in candidates]
        current = {
            row[0]: row for row in con.execute(sql("search/hits.sql"), {"urls": urls}).fetchall()
        }
        changed: set[str] = set()
        if behind:
            params = {"run_ids": list(behind), "urls": urls}
            changed = {
                row[0] for row in con.execute(sql("search/changed_since.sql"), params).fetchall()
            }
        for score, url, doc in candidates:
            row = current.get(url)
            if row is None or url in changed or len(hits) == limit:
                continue
            _, timestamp, title = row
            if title != doc.get_first("title") or _seconds(timestamp) != _seconds(
                doc.get_first("timestamp")
            ):
                continue  # the index holds another version than articles
            body = doc.get_first("body") or ""
            # the best passage of the body's start: the generator tokenizes all it is given
            snippet = snippets.snippet_from_doc(tantivy.Document(body=[body[:SNIPPET_SCAN]]))
            text = _marked(snippet, cjk) or " ".join(body[:SNIPPET_BYTES].split())
            hits.append(Hit(url, timestamp, title, round(score, 4), text))
        if len(hits) == limit or len(found) < want:
            break
        offset, want = offset + want, want * 2
    return hits
