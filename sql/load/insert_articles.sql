-- Stream the winning versions from the Parquet parts into articles.
INSERT INTO articles
SELECT part.url, part."timestamp", part.title, part.body, part.image
FROM read_parquet($parts) AS part
SEMI JOIN decided
    ON decided.url = part.url AND decided.seq = part.seq AND decided.action IN ('new', 'updated');
