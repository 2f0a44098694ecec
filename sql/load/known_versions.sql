INSERT INTO known_versions
SELECT url, "timestamp", content_hash FROM current_versions WHERE url IN $keys;
