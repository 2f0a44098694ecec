-- What each fetched URL looked like last time: sent back as a conditional request next poll.
CREATE TABLE IF NOT EXISTS http_validators (
    url VARCHAR PRIMARY KEY,
    etag VARCHAR,
    last_modified VARCHAR,
    content_hash VARCHAR,
    run_id VARCHAR NOT NULL
);
