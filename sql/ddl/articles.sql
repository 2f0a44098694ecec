-- One row per canonical url: the newest version wins (later timestamp; on a tie, the later ingest).
CREATE TABLE IF NOT EXISTS articles (
    url VARCHAR PRIMARY KEY,
    "timestamp" TIMESTAMPTZ,
    title VARCHAR NOT NULL,
    body VARCHAR NOT NULL,
    image VARCHAR
);
