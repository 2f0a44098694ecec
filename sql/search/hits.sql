-- What a search shows of its hits, from articles as they are now: a hit whose url is gone,
-- or whose timestamp or title differ from what the index holds, is not shown. (No body:
-- DuckDB reads long strings slowly row by row; the snippet comes from the index's copy.)
SELECT url, "timestamp", title
FROM articles
WHERE url = ANY($urls::VARCHAR[]);
