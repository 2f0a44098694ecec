-- Lineage older than the cutoff goes, except each url's newest record (its current version).
DELETE FROM lineage
WHERE ingested_at < $cutoff
    AND EXISTS (
        SELECT 1
        FROM lineage AS newer
        WHERE newer.url = lineage.url AND newer.ingested_at > lineage.ingested_at
    );
