-- Each current article's body signature (MinHash of its word shingles), for the story match,
-- and the day its bands are filed under (story_bands), so they are found again by day and url.
CREATE TABLE IF NOT EXISTS story_signatures (
    url VARCHAR PRIMARY KEY,
    minhash UINTEGER[] NOT NULL,
    day DATE
);
