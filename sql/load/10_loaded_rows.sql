-- The versions this run loaded, in the public article schema, for the run's Parquet file.
SELECT url, "timestamp", title, body, image
FROM decided
WHERE action IN ('new', 'updated')
ORDER BY url;
