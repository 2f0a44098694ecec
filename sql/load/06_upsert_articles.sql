INSERT INTO articles
SELECT url, "timestamp", title, body, image
FROM decided
WHERE action IN ('new', 'updated')
ON CONFLICT (url) DO UPDATE SET
    "timestamp" = excluded."timestamp",
    title = excluded.title,
    body = excluded.body,
    image = excluded.image;
