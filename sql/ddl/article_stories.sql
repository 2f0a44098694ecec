-- Which story each article belongs to: near-duplicate copies across outlets share one. A
-- story's id is its first article's (a hash of its url) and never changes once given.
CREATE TABLE IF NOT EXISTS article_stories (
    url VARCHAR PRIMARY KEY,
    story_id VARCHAR NOT NULL
);
