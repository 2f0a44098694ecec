-- Whole files remembered apart from their records: a WARC file with its record count.
CREATE OR REPLACE TEMP TABLE stage_sources (
    source VARCHAR NOT NULL,
    fingerprint VARCHAR NOT NULL
);
