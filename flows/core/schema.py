"""The one declaration of the article schema (DESIGN.md §2) and its staging companions."""

from __future__ import annotations

import pyarrow as pa

# The public contract: every file under warehouse/parquet/ has exactly this schema.
ARTICLE_SCHEMA = pa.schema(
    [
        pa.field("url", pa.string(), nullable=False),
        pa.field("timestamp", pa.timestamp("us", tz="UTC"), nullable=True),
        pa.field("title", pa.string(), nullable=False),
        pa.field("body", pa.string(), nullable=False),
        pa.field("image", pa.string(), nullable=True),
    ]
)

# Staging parts written by the transform: the article plus the lineage the loader records.
LINEAGE_FIELDS = [
    pa.field("source", pa.string(), nullable=False),
    pa.field("content_hash", pa.string(), nullable=False),
    pa.field("timestamp_source", pa.string(), nullable=True),
    pa.field("seq", pa.int64(), nullable=False),
    pa.field("fingerprint", pa.string(), nullable=True),
    pa.field("crawled_at", pa.timestamp("us", tz="UTC"), nullable=True),  # a WARC's WARC-Date
    pa.field("title_source", pa.string(), nullable=True),
]
STAGING_SCHEMA = pa.schema(list(ARTICLE_SCHEMA) + LINEAGE_FIELDS)

REJECT_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string(), nullable=True),
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("fingerprint", pa.string(), nullable=True),
    ]
)

# Conditional-request state of fetched URLs (ETag / Last-Modified / content hash).
VALIDATOR_SCHEMA = pa.schema(
    [
        pa.field("url", pa.string(), nullable=False),
        pa.field("etag", pa.string(), nullable=True),
        pa.field("last_modified", pa.string(), nullable=True),
        pa.field("content_hash", pa.string(), nullable=True),
    ]
)

# Whole-file inputs remembered apart from their records (a WARC file and its record count).
SOURCE_STATE_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("fingerprint", pa.string(), nullable=False),
    ]
)
