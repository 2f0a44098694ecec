-- Each current article's body signature (MinHash of its word shingles), for the story match.
CREATE TABLE IF NOT EXISTS story_signatures (
    url VARCHAR PRIMARY KEY,
    minhash UINTEGER[] NOT NULL
);
