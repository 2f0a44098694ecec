-- The side table follows articles: each loaded url's row is its new version's (the old one
-- went by load/delete_meta.sql).
INSERT INTO article_meta
SELECT
    part.url, part.language, part.author, part.sitename, part.description, part.categories,
    part.tags, part.word_count
FROM read_parquet($parts) AS part
SEMI JOIN decided
    ON decided.url = part.url AND decided.seq = part.seq AND decided.action IN ('new', 'updated');
