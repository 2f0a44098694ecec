-- What each current article's page says beside the five columns (one row per url of
-- articles); the language is the page's own unless its text is confidently another.
CREATE TABLE IF NOT EXISTS article_meta (
    url VARCHAR PRIMARY KEY,
    language VARCHAR,
    author VARCHAR,
    sitename VARCHAR,
    description VARCHAR,
    categories VARCHAR[],
    tags VARCHAR[],
    word_count BIGINT
);
