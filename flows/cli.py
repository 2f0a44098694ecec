"""`article-etl`: ingest sources into the warehouse, query it read-only."""

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

from flows.settings import BATCH_SIZE, DEFAULT_WAREHOUSE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="article-etl", description="News article pages -> typed Parquet -> DuckDB."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ing = sub.add_parser("ingest", help="run the ingest flow on files, folders or globs")
    ing.add_argument("sources", nargs="+", metavar="SOURCE")
    ing.add_argument("--warehouse", type=Path, default=DEFAULT_WAREHOUSE, metavar="DIR")
    ing.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    ing.add_argument("--workers", type=int, default=None, help="transform processes (all cores)")
    ing.add_argument("--json", action="store_true", help="print the run summary as JSON")
    ing.add_argument(
        "--lock-wait",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for another ingest of the warehouse (default 60)",
    )
    web = ing.add_argument_group("web sources")
    web.add_argument(
        "--allow-private-network",
        action="store_true",
        help="fetch URLs on loopback/private addresses (refused by default)",
    )
    web.add_argument("--user-agent", default=None, help="User-Agent for requests and robots.txt")
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
        help="run batches on this Dask scheduler (tcp://host:8786)",
    )
    scale.add_argument(
        "--staging",
        metavar="DIR",
        default=None,
        help="folder for batch outputs every Dask worker can reach",
    )
    q = sub.add_parser("query", help="run read-only SQL (text or a .sql file) on the warehouse")
    q.add_argument("sql", metavar="SQL|FILE.sql")
    q.add_argument("--warehouse", type=Path, default=DEFAULT_WAREHOUSE, metavar="DIR")
    q.add_argument("--format", choices=("table", "csv", "json"), default="table")
    q.add_argument("--wait", type=float, default=30.0, help="seconds to wait for a running load")
    return parser


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="milliseconds" if value.microsecond else "seconds")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).replace("\n", " ")
    return text if len(text) <= 60 else text[:59] + "…"


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    from rich.cells import cell_len  # display width: CJK characters take two cells

    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([cell_len(c)] + [cell_len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def fmt(values: Sequence[str]) -> str:
        padded = (f" {v}{' ' * (w - cell_len(v))} " for v, w in zip(values, widths, strict=True))
        return "|" + "|".join(padded) + "|"

    out = [line, fmt(columns), line, *(fmt(r) for r in cells), line]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)


def run_query(args: argparse.Namespace) -> int:
    from flows.warehouse import connect

    text = args.sql
    if text.endswith(".sql") and Path(text).is_file():
        text = Path(text).read_text(encoding="utf-8")
    con = connect(args.warehouse, read_only=True, wait_s=args.wait)
    try:
        cur = con.execute(text)
        columns = [d[0] for d in cur.description or []]
        rows = cur.fetchall()
    finally:
        con.close()
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
        print(format_table(columns, rows))
    return 0


def run_ingest(args: argparse.Namespace) -> int:
    from flows.extract.discover import check_all

    check_all(args.sources)  # fail in a line, before Prefect starts
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
            "allow_private_network": args.allow_private_network,
            "per_host_concurrency": args.per_host,
            "min_delay_s": args.min_delay,
            "dask_address": args.dask,
            "staging": args.staging,
            "lock_wait_s": args.lock_wait,
        }
        if args.user_agent:
            options["user_agent"] = args.user_agent
        if args.warc_base_url:
            options["warc_base_url"] = args.warc_base_url
        with tags("article-etl", "cli"):
            summary = ingest(
                sources=args.sources,
                warehouse=str(args.warehouse),
                batch_size=args.batch_size,
                workers=args.workers,
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
    print(format_table(("measure", "value"), rows))
    print(f"{summary['inputs']} inputs = {summary['reconciliation']}")
    print(f"warehouse: {args.warehouse / 'articles.duckdb'}  run: {summary['run_id']}")
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
        return run_query(args) if args.command == "query" else run_ingest(args)
    except KeyboardInterrupt:
        print("article-etl: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line instead of a traceback
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"article-etl: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
