-- Each url's version in articles: its timestamp and content hash (NULL where no lineage
-- record says it), so the load compares a run's urls with one narrow table instead of
-- scanning lineage and articles. The load keeps it in its transaction; a warehouse made
-- before gets it built in place (warehouse/fill_current_versions.sql); maintenance repairs it.
CREATE TABLE IF NOT EXISTS current_versions (
    url VARCHAR PRIMARY KEY,
    "timestamp" TIMESTAMPTZ,
    content_hash VARCHAR
);
