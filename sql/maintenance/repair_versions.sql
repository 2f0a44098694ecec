-- Versions missing or different from what articles and lineage say (a row written by hand).
INSERT INTO current_versions
SELECT expected.url, expected."timestamp", expected.content_hash
FROM expected_versions AS expected
WHERE NOT EXISTS (
    SELECT 1
    FROM current_versions AS kept
    WHERE kept.url = expected.url
        AND kept."timestamp" IS NOT DISTINCT FROM expected."timestamp"
        AND kept.content_hash IS NOT DISTINCT FROM expected.content_hash
)
ON CONFLICT (url) DO UPDATE SET
    "timestamp" = excluded."timestamp",
    content_hash = excluded.content_hash;
