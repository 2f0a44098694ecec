-- The version each new or updated url now has in articles (decided holds one row per url).
INSERT INTO current_versions
SELECT url, "timestamp", content_hash
FROM decided
WHERE action IN ('new', 'updated');
