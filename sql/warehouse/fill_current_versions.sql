-- A warehouse made before current_versions existed: build it from what articles and lineage
-- say (warehouse/expected_versions.sql first), in the transaction that creates it.
INSERT INTO current_versions
SELECT url, "timestamp", content_hash FROM expected_versions;
