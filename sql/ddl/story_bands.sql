-- The signatures cut into bands (locality-sensitive hashing): two articles that share a band's
-- value are candidates for one story. The value is the band's rows packed, exact, no hash.
CREATE TABLE IF NOT EXISTS story_bands (
    band UTINYINT NOT NULL,
    value UHUGEINT NOT NULL,
    url VARCHAR NOT NULL
);
