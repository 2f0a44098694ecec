-- Versions of urls that are no longer in articles (a row deleted by hand).
DELETE FROM current_versions
WHERE url NOT IN (SELECT url FROM expected_versions);
