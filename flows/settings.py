"""Configuration settled once: constants and defaults. Environment variables only for endpoints."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_WAREHOUSE = Path("warehouse")
DB_FILENAME = "articles.duckdb"
PARQUET_DIRNAME = "parquet"
STAGING_DIRNAME = "staging"

# Items per Prefect task. A task run costs about 0.2 CPU-s between the flow process and the
# API server (measured at 10,000 items: 1000 instead of 400 saved 2.7 CPU-s of 12 task runs),
# taken from the cores the extraction uses; the last rounds are cut smaller anyway, so every
# core stays busy, and a batch's results in a worker stay small (about 10 MB).
BATCH_SIZE = 1000

# DuckDB's memory limit for the load, in MB. Bodies spill past it, so a run's size does not
# raise it; the primary-key indexes grow with the warehouse and cannot spill, so a load that
# runs out retries with 4x the limit, up to the maximum.
LOAD_MEMORY_MB = 64
LOAD_MEMORY_MAX_MB = 4096
MAX_INPUT_BYTES = 10 * 1024 * 1024  # larger inputs are rejected too_large
# A downloaded web archive: Common Crawl's news files are about 1 GB, other crawlers roll
# theirs at 1 GB by default; four times that still fits a staging disk, and a larger one is
# more likely a runaway stream than a WARC (rejected too_large, nothing kept).
WARC_MAX_BYTES = 4 * 1024**3
WARC_BASE_URL = "https://data.commoncrawl.org/"  # what a warc.paths.gz listing is relative to
MAX_NESTING_DEPTH = 2000  # deeper trees are cut by the parser; we reject past this
MIN_PARAGRAPH_CHARS = 40  # a body needs one sentence-length line (CJK counted double)
DOC_TIME_BUDGET_S = 5.0  # per-document soft budget (SIGALRM in the worker)
DOC_HARD_KILL_S = 15.0  # the parent kills a worker stuck this long on one document
WORKER_MAX_DOCS = 50_000  # recycle worker processes after this many documents...
WORKER_MAX_RSS = 512 * 1024 * 1024  # ...or once one grows past this (they idle at ~110 MiB)

# The extraction call every path uses (pipeline, benchmark baseline). url/title/date come
# from the source or from our own metadata pass, so trafilatura's metadata search is skipped
# (a third of its cost), and fast=True skips fallback extractors (same F1 on the zyte pages).
TRAFILATURA_OPTIONS: dict[str, object] = {
    "with_metadata": False,
    "fast": True,
    "include_comments": False,
    "include_tables": True,
    "include_images": False,
    "include_links": False,
    "deduplicate": False,
}

TRACKING_PARAMS = frozenset({"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid"})
TRACKING_PREFIXES = ("utm_",)

USER_AGENT = "article-etl/0.1 (+https://example.invalid/article-etl)"


def worker_count() -> int:
    """All cores by default; ARTICLE_ETL_WORKERS overrides (e.g. in constrained CI)."""
    env = os.environ.get("ARTICLE_ETL_WORKERS")
    if env:
        return max(1, int(env))
    return max(1, os.cpu_count() or 1)
