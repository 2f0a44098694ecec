-- The side table follows articles: a loaded url's row is replaced by its new version's (a
-- "new" url too: a row left behind when its article was removed by hand).
DELETE FROM article_meta
WHERE url IN (SELECT url FROM decided WHERE action IN ('new', 'updated'));
INSERT INTO article_meta
SELECT
    part.url, part.language, part.author, part.sitename, part.description, part.categories,
    part.tags, part.word_count
FROM read_parquet($parts) AS part
SEMI JOIN decided
    ON decided.url = part.url AND decided.seq = part.seq AND decided.action IN ('new', 'updated');
