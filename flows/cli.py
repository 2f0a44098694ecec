"""`article-etl`: ingest sources into the warehouse, query it read-only, export its articles,
maintain it."""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from flows import __version__
from flows.settings import (
    BATCH_SIZE,
    DEFAULT_WAREHOUSE,
    DOC_TIME_BUDGET_S,
    MAX_INTERNAL_ERROR_SHARE,
    USER_AGENT,
)

SOURCE_HELP = (
    "what to ingest, any mix of: files, folders (walked recursively) and globs of archived "
    "feed items, saved HTML pages (.html, .htm, .txt; .gz too) and WARC files (.warc, "
    ".warc.gz); http(s) URLs of article pages, RSS/Atom feeds, XML sitemaps and WARC files; "
    "URL list files (.txt/.urls, one URL a line, # comments; or .opml); Common Crawl "
    "warc.paths.gz listings"
)


def _parser() -> argparse.ArgumentParser:
    formatter = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(
        prog="article-etl",
        description="News article pages -> typed Parquet -> DuckDB, as Prefect flows.",
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    ing = sub.add_parser(
        "ingest",
        help="run the ingest flow on files, folders, globs and URLs",
        formatter_class=formatter,
    )
    ing.add_argument("sources", nargs="+", metavar="SOURCE", help=SOURCE_HELP)
    warehouse_help = "warehouse folder (articles.duckdb and parquet/)"
    ing.add_argument(
        "--warehouse", type=Path, default=DEFAULT_WAREHOUSE, metavar="DIR", help=warehouse_help
    )
    ing.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="items per Prefect task")
    ing.add_argument(
        "--workers", type=int, default=None, help="transform processes; None: one per core"
    )
    ing.add_argument("--json", action="store_true", help="print the run summary as JSON")
    ing.add_argument(
        "--time-budget",
        type=float,
        default=DOC_TIME_BUDGET_S,
        metavar="SECONDS",
        help=f"time allowed for one document before it is rejected timeout ({DOC_TIME_BUDGET_S:g})",
    )
    ing.add_argument(
        "--max-internal-error-share",
        type=float,
        default=MAX_INTERNAL_ERROR_SHARE,
        metavar="SHARE",
        help="fail the run (after loading) when more inputs than this share (0-1) fail with "
        f"internal_error ({MAX_INTERNAL_ERROR_SHARE:g})",
    )
    ing.add_argument(
        "--lock-wait",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for another ingest of the warehouse",
    )
    web = ing.add_argument_group("web sources")
    web.add_argument(
        "--allow-private-network",
        action="store_true",
        help="fetch URLs on loopback/private addresses (refused by default)",
    )
    web.add_argument(
        "--user-agent",
        default=USER_AGENT,
        help="User-Agent for requests and robots.txt (contact from ARTICLE_ETL_CONTACT)",
    )
    web.add_argument("--per-host", type=int, default=2, help="concurrent requests per host")
    web.add_argument(
        "--min-delay", type=float, default=0.5, help="seconds between request starts to one host"
    )
    web.add_argument(
        "--warc-base-url",
        default=None,
        metavar="URL",
        help="what the paths of a warc.paths.gz listing are relative to (Common Crawl's)",
    )
    scale = ing.add_argument_group("cluster")
    scale.add_argument(
        "--dask",
        metavar="ADDRESS",
        default=None,
        help="run batches on this Dask scheduler (tcp://host:8786; needs the dask extra)",
    )
    scale.add_argument(
        "--staging",
        metavar="DIR",
        default=None,
        help="folder for batch outputs every Dask worker can reach; None: the warehouse's",
    )
    q = sub.add_parser(
        "query",
        help="run read-only SQL (text or a .sql file) on the warehouse",
        formatter_class=formatter,
    )
    q.add_argument("sql", metavar="SQL|FILE.sql", help="a SELECT, or a file holding one")
    q.add_argument(
        "--warehouse", type=Path, default=DEFAULT_WAREHOUSE, metavar="DIR", help=warehouse_help
    )
    q.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help=f"table cuts cells past {MAX_CELL} characters with …; csv and json print all",
    )
    q.add_argument("--wait", type=float, default=30.0, help="seconds to wait for a running load")
    m = sub.add_parser(
        "maintenance",
        help="compact the Parquet files, checkpoint DuckDB, prune old lineage",
        formatter_class=formatter,
    )
    m.add_argument(
        "--warehouse", type=Path, default=DEFAULT_WAREHOUSE, metavar="DIR", help=warehouse_help
    )
    m.add_argument(
        "--lineage-retention-days",
        type=int,
        default=90,
        metavar="DAYS",
        help="delete lineage older than this (each url's current record stays)",
    )
    m.add_argument(
        "--lock-wait",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="how long to wait for a running ingest of the warehouse",
    )
    ex = sub.add_parser(
        "export",
        help="write the current articles to one file (OUT only)",
        formatter_class=formatter,
    )
    ex.add_argument("out", type=Path, metavar="OUT", help="the file to write")
    ex.add_argument(
        "--format",
        choices=("parquet", "csv", "jsonl"),
        default=None,
        help="None: from OUT's suffix (.csv, .jsonl), else parquet",
    )
    ex.add_argument(
        "--where",
        metavar="SQL",
        default=None,
        help="a SQL predicate on the articles' columns, e.g. \"url LIKE '%%.example/%%'\"",
    )
    ex.add_argument(
        "--warehouse", type=Path, default=DEFAULT_WAREHOUSE, metavar="DIR", help=warehouse_help
    )
    ex.add_argument("--wait", type=float, default=30.0, help="seconds to wait for a running load")
    return parser


MAX_CELL = 60  # a table shows the shape of the data; csv and json carry whole values


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="milliseconds" if value.microsecond else "seconds")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).replace("\n", " ")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
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
    print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


def run_query(args: argparse.Namespace) -> int:
    from flows.query import run_query as query

    text = args.sql
    if text.endswith(".sql") and Path(text).is_file():
        text = Path(text).read_text(encoding="utf-8")
    columns, rows = query(args.warehouse, text, args.wait)
    if args.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    elif args.format == "json":
        print(
            json.dumps(
                [dict(zip(columns, r, strict=True)) for r in rows],
                default=str,
                ensure_ascii=False,
                indent=1,
            )
        )
    else:
        print_table(columns, rows)
    return 0


def run_export(args: argparse.Namespace) -> int:
    from flows.query import export, export_format

    fmt = export_format(args.out, args.format)
    rows = export(args.warehouse, args.out, fmt, args.where, args.wait)
    print(f"exported {rows} article{'s' if rows != 1 else ''} to {args.out} ({fmt})")
    return 0


def run_ingest(args: argparse.Namespace) -> int:
    from flows.extract.discover import check_all
    from flows.params import validate_params

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
    check_all(args.sources)
    interactive = sys.stderr.isatty() and not args.json
    # Plain log lines when not on a terminal; on a terminal a bar replaces per-batch lines.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING" if interactive else "INFO")
    from prefect import tags

    from flows import progress
    from flows.artifacts import SUMMARY_MEASURES
    from flows.ingest import ingest

    listener = None
    bar_ctx = None
    if interactive:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        bar_ctx = Progress(
            "ingest", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True
        )
        bar_ctx.start()
        bar_task = bar_ctx.add_task("ingest", total=None)

        def listener(done: int, total: int) -> None:
            bar_ctx.update(bar_task, completed=done, total=total or None)

        progress.subscribe(listener)
    try:
        options: dict[str, Any] = {
            **params,
            "allow_private_network": args.allow_private_network,
            "dask_address": args.dask,
            "staging": args.staging,
        }
        options["user_agent"] = args.user_agent
        if args.warc_base_url:
            options["warc_base_url"] = args.warc_base_url
        with tags("article-etl", "cli"):
            summary = ingest(
                sources=args.sources,
                warehouse=str(args.warehouse),
                **options,
            )
    finally:
        if listener is not None:
            progress.unsubscribe(listener)
        if bar_ctx is not None:
            bar_ctx.stop()
    if args.json:
        print(json.dumps(summary, default=str, indent=1))
        return 0
    rows = [(k, summary[k]) for k in SUMMARY_MEASURES]
    rows += [(f"rejected: {k}", v) for k, v in summary["reasons"].items()]
    if summary.get("resumed"):
        rows.append(("resumed (from a killed run)", summary["resumed"]))
    if summary["warning"]:
        print(f"article-etl: warning: {summary['warning']}", file=sys.stderr)
    print_table(("measure", "value"), rows)
    print(f"{summary['inputs']} inputs = {summary['reconciliation']}")
    print(f"warehouse: {args.warehouse / 'articles.duckdb'}  run: {summary['run_id']}")
    return 0


def run_maintenance(args: argparse.Namespace) -> int:
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING" if sys.stderr.isatty() else "INFO")
    from prefect import tags

    from flows.maintenance import maintenance, require_warehouse

    require_warehouse(args.warehouse)  # in a line, before Prefect starts; the flow checks too
    with tags("article-etl", "cli"):
        result = maintenance(
            warehouse=str(args.warehouse),
            lineage_retention_days=args.lineage_retention_days,
            lock_wait_s=args.lock_wait,
        )
    print_table(("measure", "value"), list(result.items()))
    return 0


# On an empty Prefect home the temporary server first creates and migrates its database,
# which can take longer than Prefect's default start-up timeout on a small machine.
EPHEMERAL_STARTUP_TIMEOUT_S = "120"


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault(
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", EPHEMERAL_STARTUP_TIMEOUT_S
    )
    args = _parser().parse_args(argv)
    try:
        commands = {
            "ingest": run_ingest,
            "query": run_query,
            "export": run_export,
            "maintenance": run_maintenance,
        }
        return commands[args.command](args)
    except KeyboardInterrupt:
        print("article-etl: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line instead of a traceback
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"article-etl: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
