"""Configuration settled once: constants and defaults. Environment variables only for endpoints."""

from __future__ import annotations

import os
from pathlib import Path

from flows import __version__

DEFAULT_WAREHOUSE = Path("warehouse")
DB_FILENAME = "articles.duckdb"
# The DuckDB storage format the warehouse is written in: the newest one the DuckDB command line
# on PyPI (1.5) opens, so that `duckdb warehouse/articles.duckdb` works beside our DuckDB 2.0.
# "v2.0.0" would let only DuckDB 2.0 open it (bench/README.md measures what the older costs).
STORAGE_VERSION = "v1.5.0"
PARQUET_DIRNAME = "parquet"
STAGING_DIRNAME = "staging"
SEARCH_DIRNAME = "search"  # the full-text index (flows/load/search/), rebuilt from articles at will

# What a unit whose size discovery does not know (a WARC record) is counted as: a news page.
UNKNOWN_UNIT_BYTES = 100 * 1024
# At most this many items per Prefect task. Every task run costs CPU in the flow process and
# the API server, taken from the cores the extraction uses, so batches are large; the last
# rounds are cut smaller anyway, so every core stays busy. Not larger: a worker's cost per
# item grows with the rows its batch holds (one batch of 4,000 archived items cost 1.08 to
# 1.18 times four of 1,000 in one process).
BATCH_SIZE = 1000
# A batch also ends at this many bytes of input, so a batch of large pages holds fewer than
# BATCH_SIZE and its results in a worker stay small. A batch of 100 KB pages holds 1,000.
BATCH_BYTES = 100 * 1000 * 1024
# The smallest batch of a run's last rounds, in bytes: the transform's cost follows a
# document's size, a batch's own (a task run, two log lines, a Parquet part, a note) does not,
# so tail batches shorter than this cost more than they save in idle cores at the end
# (25 pages of 100 KB, about 280 archived items of 3.7 KB).
TAIL_BATCH_BYTES = 1024 * 1024

# DuckDB's memory limit for the load, in MB. Bodies spill past it, so a run's size does not
# raise it; the primary-key indexes grow with the warehouse and cannot spill, so a load that
# runs out retries with 4x the limit, up to the maximum. The load runs after the workers have
# gone, so this much stays below what the transform already holds; less makes DuckDB spill a
# 10,000-article load to disk and take twice as long.
LOAD_MEMORY_MB = 256
LOAD_MEMORY_MAX_MB = 4096
# Keys per `IN` list looked up in the warehouse: DuckDB answers up to index_scan_max_count
# (2048, or 0.1 % of the table's rows if more) from the primary key's index, and scans the
# whole table for a longer list.
KEYS_PER_QUERY = 2048
MAX_INPUT_BYTES = 10 * 1024 * 1024  # larger inputs are rejected too_large
# A downloaded web archive: Common Crawl's news files are about 1 GB, other crawlers roll
# theirs at 1 GB by default; four times that still fits a staging disk, and a larger one is
# more likely a runaway stream than a WARC (rejected too_large, nothing kept).
WARC_MAX_BYTES = 4 * 1024**3
WARC_BASE_URL = "https://data.commoncrawl.org/"  # what a warc.paths.gz listing is relative to
# An archived item's body needs one sentence-length line or this much text (CJK counted
# double): share blocks and link lists come out as short lines only.
MIN_PARAGRAPH_CHARS = 40
MIN_BODY_CHARS = 250
DOC_TIME_BUDGET_S = 5.0  # per-document budget of the worker's CPU time (a busy machine is no cause)
# The parent kills a worker stuck this long (wall clock) on one document: only a hang (code
# stuck in C, a stopped process) gets there, so it is far above any budget on a busy machine.
DOC_HARD_KILL_S = 120.0
HARD_KILL_PER_BUDGET = 10  # and at least this many budgets


def hard_kill_s(budget_s: float) -> float:
    """The wall-clock ceiling for a document given a CPU-time budget of ``budget_s``."""
    return max(DOC_HARD_KILL_S, HARD_KILL_PER_BUDGET * budget_s)


# A run whose inputs fail with internal_error past this share loads the good ones and then
# ends Failed: that many is a bug (or a broken dependency), not bad data.
MAX_INTERNAL_ERROR_SHARE = 0.5
# Waiting one host asks for (Retry-After, backoff after 429/5xx) is capped per run; past the
# cap its remaining URLs are rejected host_backoff and tried again on the next run.
HOST_WAIT_CAP_S = 300.0
# A longer Retry-After is not honoured: that URL is rejected (retried next run), the host's
# other URLs go on at the normal delay.
MAX_RETRY_AFTER_S = 120.0
WORKER_MAX_DOCS = 50_000  # recycle worker processes after this many documents...
WORKER_MAX_RSS = 512 * 1024 * 1024  # ...or once one grows past this (far above an idle one)

# The extraction call every path uses: trafilatura's defaults (its fallback extractors on,
# neither precision nor recall favoured), which bench.paired holds best on every subset of
# the corpus; precision mode, fast=True and a recall retry each won on the Zyte pages and lost
# on others. Comments stay in trafilatura's separate field, out of the body. url, title and
# date come from the source or from our own metadata pass, so its metadata search is skipped.
TRAFILATURA_OPTIONS: dict[str, object] = {
    "with_metadata": False,
    "include_comments": True,
    "include_tables": True,
    "include_images": False,
    "include_links": False,
    "deduplicate": False,
}

# Stories (near-duplicate copies of one article across outlets): a MinHash of the body's
# word shingles, cut into bands for the candidate join; a candidate joins a story when the
# estimated Jaccard similarity of the bodies reaches the threshold. bench/stories.py chose the
# values on its labelled set (bench/README.md).
STORY_SHINGLE_WORDS = 3
STORY_PERMUTATIONS = 128
STORY_BAND_ROWS = 2  # 64 bands: a pair at the threshold is missed once in 4,000
STORY_THRESHOLD = 0.35
STORY_MIN_SHINGLES = 20  # a shorter body (a caption, a brief) is too little to match on
# A story's copies appear within days of each other: an article is compared only with those
# whose day (its publication date, the run's date when it has none) lies within this many
# days of its own, so a run reads the bands of its own period and not the whole warehouse's.
# A copy published further apart starts its own story. bench/stories.py (copies minutes
# apart, a set spanning a week) keeps precision and recall at 1.0 with it (bench/README.md).
STORY_WINDOW_DAYS = 14
# A band's rows pack into one 64-bit key, its number mixed into the top 6 bits.
assert STORY_BAND_ROWS * 32 <= 64 and STORY_PERMUTATIONS // STORY_BAND_ROWS <= 64

# Language: a page's own statement wins unless py3langid, on the body's first characters,
# names another language with at least this probability (bench/stories.py measures both).
LANG_SAMPLE_CHARS = 500  # the whole body's verdict on every Zyte page, at a third the cost
LANG_OVERRIDE_CONFIDENCE = 0.999
# A first glance on fewer characters: it settles a page when it names the stated language, or
# (no statement) one it is this sure of. Same verdict as LANG_SAMPLE_CHARS alone on all 2,743
# corpus pages with a body, in every subset, at two thirds the cost (bench/stories.py).
LANG_GLANCE_CHARS = 150
LANG_GLANCE_CONFIDENCE = 0.99

TRACKING_PARAMS = frozenset({"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid"})
TRACKING_PREFIXES = ("utm_",)


def user_agent(contact: str | None = None) -> str:
    """``article-etl/VERSION (+CONTACT)``: sites that see our requests can reach whoever runs
    them. The contact (a URL or mailto:) comes from ARTICLE_ETL_CONTACT; without one the
    User-Agent names only the tool."""
    contact = contact if contact is not None else os.environ.get("ARTICLE_ETL_CONTACT", "")
    base = f"article-etl/{__version__}"
    return f"{base} (+{contact.strip()})" if contact.strip() else base


USER_AGENT = user_agent()  # read once, at import: an endpoint-like value of the deployment


def worker_count() -> int:
    """All cores by default; ARTICLE_ETL_WORKERS overrides (e.g. in constrained CI)."""
    env = os.environ.get("ARTICLE_ETL_WORKERS")
    if env:
        return max(1, int(env))
    return max(1, os.cpu_count() or 1)


# Defaults of the flows' parameters, which the command line's options take too.
PER_HOST_CONCURRENCY = 2  # requests at once to one host
MIN_DELAY_S = 0.5  # between request starts to one host (a robots.txt Crawl-delay raises it)
INGEST_LOCK_WAIT_S = 60.0  # for another ingest of the same warehouse to finish
MAINTENANCE_LOCK_WAIT_S = 600.0  # nightly, it can wait out a long ingest
LINEAGE_RETENTION_DAYS = 90
READ_WAIT_S = 30.0  # a query or an export, for a load to release the DuckDB file

RESUME_DIRNAME = ".resume"  # under the staging folder; a dot keeps it apart from runs' folders
