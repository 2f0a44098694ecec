CREATE OR REPLACE TEMP TABLE stage_validators (
    url VARCHAR NOT NULL,
    etag VARCHAR,
    last_modified VARCHAR,
    content_hash VARCHAR
);
