"""`article-etl`: ingest sources into the warehouse, query it read-only, export its articles,
maintain it."""

from __future__ import annotations

import argparse
import csv
import difflib
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from flows import __version__
from flows.core.settings import (
    BATCH_SIZE,
    DEFAULT_WAREHOUSE,
    DOC_TIME_BUDGET_S,
    INGEST_LOCK_WAIT_S,
    LINEAGE_RETENTION_DAYS,
    MAINTENANCE_LOCK_WAIT_S,
    MAX_INTERNAL_ERROR_SHARE,
    MIN_DELAY_S,
    PER_HOST_CONCURRENCY,
    READ_WAIT_S,
    USER_AGENT,
    WARC_BASE_URL,
)

EXPORT_FORMATS = ("parquet", "csv", "jsonl")  # flows.query's, without importing DuckDB for --help

SOURCE_HELP = (
    "what to ingest, any mix of: files, folders (walked recursively) and globs of archived "
    "feed items, saved HTML pages (.html, .htm, .txt; .gz too) and WARC files (.warc, "
    ".warc.gz); http(s) URLs of article pages, RSS/Atom feeds, XML sitemaps and WARC files; "
    "URL list files (.txt/.urls, one URL a line, # comments; or .opml); Common Crawl "
    "warc.paths.gz listings"
)


def _verbosity() -> argparse.ArgumentParser:
    """-v/-q, shared by every sub-command."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("output")
    loud = group.add_mutually_exclusive_group()
    loud.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also show Prefect's log lines on a terminal (shown by default elsewhere)",
    )
    loud.add_argument(
        "-q", "--quiet", action="store_true", help="errors only: no progress, logs or summary"
    )
    return common


WAREHOUSE_HELP = "the warehouse folder: articles.duckdb and parquet/ (default: %(default)s)"


def _warehouse(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--warehouse", type=Path, default=DEFAULT_WAREHOUSE, metavar="DIR", help=WAREHOUSE_HELP
    )


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser and its sub-command parsers by name. Defaults are written into each help
    text (%(default)s, or in words where the value would say less than the words)."""
    parser = argparse.ArgumentParser(
        prog="article-etl",
        description="News article pages -> typed Parquet -> DuckDB, as Prefect flows.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = [_verbosity()]
    ing = sub.add_parser(
        "ingest",
        help="run the ingest flow on files, folders, globs and URLs",
        description="Run the ingest flow: extract, transform and load into the warehouse.",
        parents=common,
    )
    ing.add_argument("sources", nargs="+", metavar="SOURCE", help=SOURCE_HELP)
    _warehouse(ing)
    ing.add_argument(
        "--batch-size",
        type=int,
        default=BATCH_SIZE,
        metavar="N",
        help="at most N items per Prefect task; a batch also ends at 100 MB of input "
        "(default: %(default)s)",
    )
    ing.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="transform processes (default: ARTICLE_ETL_WORKERS if set, else one per core)",
    )
    ing.add_argument("--json", action="store_true", help="print the run summary as JSON")
    ing.add_argument(
        "--time-budget",
        type=float,
        default=DOC_TIME_BUDGET_S,
        metavar="SECONDS",
        help="CPU time allowed for one document before it is rejected timeout "
        "(default: %(default)g)",
    )
    ing.add_argument(
        "--max-internal-error-share",
        type=float,
        default=MAX_INTERNAL_ERROR_SHARE,
        metavar="SHARE",
        help="fail the run (after loading) when more inputs than this share (0-1) fail with "
        "internal_error (default: %(default)g)",
    )
    ing.add_argument(
        "--lock-wait",
        type=float,
        default=INGEST_LOCK_WAIT_S,
        metavar="SECONDS",
        help="how long to wait for another ingest of the warehouse (default: %(default)g)",
    )
    web = ing.add_argument_group("web sources")
    web.add_argument(
        "--allow-private-network",
        action="store_true",
        help="fetch URLs on loopback/private addresses (refused unless given)",
    )
    web.add_argument(
        "--user-agent",
        default=USER_AGENT,
        metavar="TEXT",
        help="User-Agent for requests and robots.txt; a contact URL or mailto: comes from "
        "ARTICLE_ETL_CONTACT (default: %(default)s)",
    )
    web.add_argument(
        "--per-host",
        type=int,
        default=PER_HOST_CONCURRENCY,
        metavar="N",
        help="concurrent requests per host (default: %(default)s)",
    )
    web.add_argument(
        "--min-delay",
        type=float,
        default=MIN_DELAY_S,
        metavar="SECONDS",
        help="time between request starts to one host (default: %(default)g)",
    )
    web.add_argument(
        "--warc-base-url",
        default=WARC_BASE_URL,
        metavar="URL",
        help="what the paths of a warc.paths.gz listing are relative to (default: %(default)s)",
    )
    scale = ing.add_argument_group("cluster")
    scale.add_argument(
        "--dask",
        metavar="ADDRESS",
        default=None,
        help="run batches on this Dask scheduler, e.g. tcp://host:8786 (needs the dask "
        "extra; default: local worker processes)",
    )
    scale.add_argument(
        "--staging",
        metavar="DIR",
        default=None,
        help="folder for batch outputs that every Dask worker can reach "
        "(default: the warehouse's staging/)",
    )
    q = sub.add_parser(
        "query",
        help="run read-only SQL (text or a .sql file) on the warehouse",
        description="Run read-only SQL on the warehouse; each statement's result is printed "
        "in order, streamed as it comes. Ctrl-C stops a running query.",
        parents=common,
    )
    q.add_argument(
        "sql",
        metavar="SQL|FILE.sql",
        help="SQL text (one or more statements), or a file ending in .sql holding it",
    )
    _warehouse(q)
    q.add_argument(
        "--format",
        choices=QUERY_FORMATS,
        default="table",
        help=f"table (the default) shows the first {MAX_TABLE_ROWS} rows, cells cut past "
        f"{MAX_CELL} characters; csv, json and ndjson (one JSON object a line) carry all",
    )
    q.add_argument(
        "--nl", action="store_true", help="newline-delimited JSON: the same as --format ndjson"
    )
    q.add_argument(
        "--wait",
        type=float,
        default=READ_WAIT_S,
        metavar="SECONDS",
        help="how long to wait for a running load to release the file (default: %(default)g)",
    )
    q.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop the query after this long (default: no limit; Ctrl-C stops it too)",
    )
    se = sub.add_parser(
        "search",
        help="find articles by words, phrases and filters, ranked by relevance",
        description="Ranked full-text search over the articles' titles and bodies (BM25, the "
        "title weighted higher). QUERY: words (any may match, more rank higher), "
        '"a phrase", +required, -excluded, prefix*, title:word. Chinese and Japanese words '
        "are found inside running text. The index is built on first use.",
        parents=common,
    )
    se.add_argument("query", metavar="QUERY", help="what to look for (at most 1000 characters)")
    _warehouse(se)
    se.add_argument(
        "--limit",
        type=int,
        default=10,
        metavar="N",
        help="how many results, 1 to 1000 (default: %(default)s)",
    )
    se.add_argument(
        "--since",
        type=_date_or_time,
        default=None,
        metavar="DATE",
        help="published on or after this day (YYYY-MM-DD) or instant (ISO 8601, UTC unless "
        "it says otherwise) (default: no bound)",
    )
    se.add_argument(
        "--until",
        type=_date_or_time,
        default=None,
        metavar="DATE",
        help="published on or before this day (the whole day) or instant (default: no bound)",
    )
    se.add_argument(
        "--host",
        default=None,
        metavar="HOST",
        help="only articles of this host, e.g. news.example.com (default: every host)",
    )
    se.add_argument(
        "--format",
        choices=SEARCH_FORMATS,
        default="table",
        help=f"table (the default; cells cut past {MAX_CELL} characters), csv or json",
    )
    se.add_argument(
        "--wait",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for a running load to release the file (default: %(default)g)",
    )
    m = sub.add_parser(
        "maintenance",
        help="convert an older storage format, compact the Parquet files, checkpoint DuckDB, "
        "prune old lineage",
        description="Run the maintenance flow on an existing warehouse.",
        parents=common,
    )
    _warehouse(m)
    m.add_argument(
        "--lineage-retention-days",
        type=int,
        default=LINEAGE_RETENTION_DAYS,
        metavar="DAYS",
        help="delete lineage older than this; each url's current record stays "
        "(default: %(default)s)",
    )
    m.add_argument(
        "--rebuild-search",
        action="store_true",
        help="rebuild the search index from the articles (default: repair it only when it "
        "is behind or damaged)",
    )
    m.add_argument(
        "--lock-wait",
        type=float,
        default=MAINTENANCE_LOCK_WAIT_S,
        metavar="SECONDS",
        help="how long to wait for a running ingest of the warehouse (default: %(default)g)",
    )
    ex = sub.add_parser(
        "export",
        help="write the current articles to one file (OUT only)",
        description="Write the current articles to OUT, a regular file outside the "
        "warehouse (replaced whole), or to standard output with -.",
        parents=common,
    )
    ex.add_argument(
        "out",
        metavar="OUT",
        help="the file to write: .parquet, .csv, .jsonl or .ndjson; - for "
        "standard output (with --format)",
    )
    ex.add_argument(
        "--format",
        choices=EXPORT_FORMATS,
        default=None,
        help="the file's format (default: from OUT's suffix; another suffix is an error)",
    )
    ex.add_argument(
        "--where",
        metavar="SQL",
        default=None,
        help="a SQL predicate on the articles' columns, e.g. \"url LIKE '%%.example/%%'\" "
        "(default: every article)",
    )
    _warehouse(ex)
    ex.add_argument(
        "--wait",
        type=float,
        default=READ_WAIT_S,
        metavar="SECONDS",
        help="how long to wait for a running load to release the file (default: %(default)g)",
    )
    return parser, dict(sub.choices)


QUERY_FORMATS = ("table", "csv", "json", "ndjson")
SEARCH_FORMATS = ("table", "csv", "json")


def _date_or_time(text: str) -> date | datetime:
    """A --since/--until value: a day, or an instant in ISO 8601."""
    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date (2024-05-31) or an ISO 8601 time, got {text!r}"
        ) from None


MAX_TABLE_ROWS = 1_000  # a table is for reading; csv and json are for everything


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Like parse_args, but a mistyped option gets the sub-command's usage and the closest
    option it has, as Python 3.14's suggest_on_error does for choices."""
    parser, commands = _parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        sub = commands[args.command]
        known = set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", sub.format_help()))
        hints = []
        for extra in extras:
            close = difflib.get_close_matches(extra.split("=", 1)[0], sorted(known), n=1)
            hints.append(f"{extra} (did you mean {close[0]}?)" if close else extra)
        sub.error(f"unrecognized arguments: {' '.join(hints)}")
    return args


MAX_CELL = 60  # a table shows the shape of the data; csv and json carry whole values


def _cell(value: Any) -> str:
    from flows.query import iso

    if value is None:
        return "NULL"
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).replace("\n", " ")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], note: str = "") -> None:
    """An ASCII table sized to its content (rich measures CJK as two cells), whatever the
    terminal's width; then the row count."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.ASCII2, show_edge=True, highlight=False)
    for name in columns:
        table.add_column(Text(name), no_wrap=True, overflow="ignore")
    for row in rows:
        table.add_row(*(Text(_cell(v)) for v in row))
    console = Console(width=1_000_000, no_color=True, highlight=False, soft_wrap=True)
    with console.capture() as captured:
        console.print(table)
    text = "\n".join(line.rstrip() for line in captured.get().splitlines())
    print(text)
    print(note or f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


def _sinks() -> dict[str, type]:
    """One output per --format, each fed one statement's result batch by batch."""
    from flows.query import Sink, text_value

    class TableSink(Sink):
        def __init__(self, quiet: bool) -> None:
            self.quiet, self.count = quiet, 0

        def begin(self, columns: list[str]) -> None:
            self.columns, self.capped = columns, False
            self.held: list[tuple[Any, ...]] = []
            if self.count:
                print()
            self.count += 1

        def rows(self, batch: list[tuple[Any, ...]]) -> bool:
            room = MAX_TABLE_ROWS - len(self.held)
            self.held.extend(batch[:room])
            self.capped = len(batch) > room
            return not self.capped

        def end(self) -> None:
            note = ""
            if self.capped:
                note = (
                    f"(first {MAX_TABLE_ROWS} rows shown, the rest not read; "
                    "--format csv, json or ndjson prints every row)"
                )
            print_table(self.columns, self.held, note)
            sys.stdout.flush()

    class CsvSink(Sink):
        def __init__(self, quiet: bool) -> None:
            self.writer, self.count = csv.writer(sys.stdout), 0

        def begin(self, columns: list[str]) -> None:
            if self.count:
                sys.stdout.write("\n")  # a blank line between two statements' results
            self.count += 1
            self.writer.writerow(columns)

        def rows(self, batch: list[tuple[Any, ...]]) -> bool:
            self.writer.writerows([text_value(v) for v in row] for row in batch)
            sys.stdout.flush()
            return True

    class JsonSink(Sink):
        """One JSON array a statement, written row by row."""

        def __init__(self, quiet: bool) -> None:
            pass

        def begin(self, columns: list[str]) -> None:
            self.columns, self.first = columns, True
            sys.stdout.write("[")

        def rows(self, batch: list[tuple[Any, ...]]) -> bool:
            for row in batch:
                sys.stdout.write("\n" if self.first else ",\n")
                sys.stdout.write(_json_row(self.columns, row))
                self.first = False
            sys.stdout.flush()
            return True

        def end(self) -> None:
            sys.stdout.write("\n]\n")
            sys.stdout.flush()

    class NdjsonSink(JsonSink):
        def begin(self, columns: list[str]) -> None:
            self.columns = columns

        def rows(self, batch: list[tuple[Any, ...]]) -> bool:
            sys.stdout.write("".join(_json_row(self.columns, row) + "\n" for row in batch))
            sys.stdout.flush()
            return True

        def end(self) -> None:
            pass

    def _json_row(columns: list[str], row: tuple[Any, ...]) -> str:
        record = {c: text_value(v) for c, v in zip(columns, row, strict=True)}
        return json.dumps(record, default=str, ensure_ascii=False)

    return {"table": TableSink, "csv": CsvSink, "json": JsonSink, "ndjson": NdjsonSink}


def run_query(args: argparse.Namespace) -> int:
    """``article-etl query``: run the SQL and print each statement's result."""
    from flows.query import read_sql
    from flows.query import run_query as query

    if args.timeout is not None and not args.timeout > 0:
        raise ValueError(f"--timeout must be greater than 0, got {args.timeout:g}")
    text = read_sql(args.sql)
    fmt = "ndjson" if args.nl else args.format
    sink = _sinks()[fmt](args.quiet)
    query(args.warehouse, text, sink, wait_s=args.wait, timeout_s=args.timeout)
    return 0


def run_export(args: argparse.Namespace) -> int:
    """``article-etl export``: write the current articles to OUT."""
    from flows.query import export, export_format

    fmt = export_format(args.out, args.format)
    rows = export(args.warehouse, args.out, fmt, args.where, args.wait)
    if not args.quiet:  # on stderr when the data itself goes to stdout
        where = sys.stderr if args.out == "-" else sys.stdout
        out = "standard output" if args.out == "-" else args.out
        print(f"exported {rows} article{'s' if rows != 1 else ''} to {out} ({fmt})", file=where)
    return 0


def run_search(args: argparse.Namespace) -> int:
    """``article-etl search``: ranked articles for a query, as a table, CSV or JSON."""
    from flows.load.search.query import search
    from flows.query import text_value

    if not 0 <= args.wait <= 86_400:
        raise ValueError(f"--wait must be from 0 to 86400 seconds, got {args.wait:g}")
    bar = _Bar("search index") if sys.stderr.isatty() and not args.quiet else None
    if bar is not None:
        bar.progress.start()
    try:
        hits = search(
            args.warehouse,
            args.query,
            args.limit,
            args.since,
            args.until,
            args.host,
            wait_s=args.wait,
            progress=bar,
        )
    finally:
        if bar is not None:
            bar.progress.stop()
    columns = ["score", "timestamp", "title", "url", "snippet"]
    rows = [(h.score, h.timestamp, h.title, h.url, h.snippet) for h in hits]
    if args.format == "json":
        records = [{c: text_value(v) for c, v in zip(columns, row, strict=True)} for row in rows]
        print(json.dumps(records, ensure_ascii=False, indent=1))
    elif args.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows([text_value(v) for v in row] for row in rows)
    else:
        print_table(columns, rows, "" if rows else "(no articles found)")
    return 0


def _log_level(args: argparse.Namespace, interactive: bool) -> str:
    """Prefect's log lines: plain INFO lines when not on a terminal; on a terminal a bar
    replaces per-batch lines unless -v; -q leaves errors only."""
    if args.quiet:
        return "ERROR"
    return "INFO" if args.verbose or not interactive else "WARNING"


class _Bar:
    """The terminal's progress bar: while discovery is still counting it says how many it
    has found; once it knows the total, items done, rate and time left."""

    def __init__(self, label: str = "ingest") -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn(label),
            BarColumn(),
            TextColumn("{task.fields[count]}"),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            transient=True,
        )
        self.task = self.progress.add_task(label, total=None, count="starting", rate="")
        self.started = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = f"{done / elapsed:,.0f} items/s" if done else ""
        count = f"{done:,}/{total:,}" if total else "discovering inputs"
        self.progress.update(self.task, completed=done, total=total or None, count=count, rate=rate)


def run_ingest(args: argparse.Namespace) -> int:
    """``article-etl ingest``: check the arguments, run the ingest flow, print its summary."""
    from flows.core.params import validate_params
    from flows.extract.discover import check_all

    # Fail in a line, before Prefect starts; the flow runs the same checks.
    params = {
        "batch_size": args.batch_size,
        "workers": args.workers,
        "time_budget_s": args.time_budget,
        "lock_wait_s": args.lock_wait,
        "per_host_concurrency": args.per_host,
        "min_delay_s": args.min_delay,
        "max_internal_error_share": args.max_internal_error_share,
    }
    validate_params(params)
    from flows.load.warehouse import require_writable

    require_writable(args.warehouse)
    check_all(args.sources)
    interactive = sys.stderr.isatty() and not args.json
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", _log_level(args, interactive))
    from prefect import tags

    from flows import progress
    from flows.artifacts import SUMMARY_MEASURES
    from flows.ingest import ingest

    bar = _Bar() if interactive and not args.quiet else None
    if bar is not None:
        bar.progress.start()
        progress.subscribe(bar)
    try:
        options: dict[str, Any] = {
            **params,
            "allow_private_network": args.allow_private_network,
            "dask_address": args.dask,
            "staging": args.staging,
        }
        options["user_agent"] = args.user_agent
        options["warc_base_url"] = args.warc_base_url
        with tags("article-etl", "cli"):
            summary = ingest(
                sources=args.sources,
                warehouse=str(args.warehouse),
                **options,
            )
    finally:
        if bar is not None:
            progress.unsubscribe(bar)
            bar.progress.stop()
    if args.json:
        print(json.dumps(summary, default=str, indent=1))
        return 0
    rows = [(k, summary[k]) for k in SUMMARY_MEASURES]
    rows += [(f"rejected: {k}", v) for k, v in summary["reasons"].items()]
    if summary.get("resumed"):
        rows.append(("resumed (from a killed run)", summary["resumed"]))
    if summary["warning"]:
        print(f"article-etl: warning: {summary['warning']}", file=sys.stderr)
    if args.quiet:
        return 0
    print_table(("measure", "value"), rows)
    print(f"{summary['inputs']} inputs = {summary['reconciliation']}")
    print(f"warehouse: {args.warehouse / 'articles.duckdb'}  run: {summary['run_id']}")
    return 0


def run_maintenance(args: argparse.Namespace) -> int:
    """``article-etl maintenance``: run the maintenance flow and print what it did."""
    from flows.core.params import validate_params

    validate_params(
        {"lineage_retention_days": args.lineage_retention_days, "lock_wait_s": args.lock_wait}
    )
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", _log_level(args, sys.stderr.isatty()))
    from prefect import tags

    from flows.maintenance import maintenance, require_warehouse

    require_warehouse(args.warehouse)  # in a line, before Prefect starts; the flow checks too
    with tags("article-etl", "cli"):
        result = maintenance(
            warehouse=str(args.warehouse),
            lineage_retention_days=args.lineage_retention_days,
            lock_wait_s=args.lock_wait,
            rebuild_search=args.rebuild_search,
        )
    if not args.quiet:
        print_table(("measure", "value"), list(result.items()))
    return 0


# On an empty Prefect home the temporary server first creates and migrates its database,
# which can take longer than Prefect's default start-up timeout on a small machine.
EPHEMERAL_STARTUP_TIMEOUT_S = "120"


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: run one command; a failure is one line and a non-zero exit."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault(
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", EPHEMERAL_STARTUP_TIMEOUT_S
    )
    args = parse_args(argv)
    try:
        commands = {
            "ingest": run_ingest,
            "query": run_query,
            "export": run_export,
            "maintenance": run_maintenance,
            "search": run_search,
        }
        return commands[args.command](args)
    except KeyboardInterrupt:
        print("article-etl: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (| head): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # one clear line instead of a traceback
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"article-etl: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
