-- Updated urls: their old row goes first, so the insert below needs no conflict handling
-- (a plain insert streams to disk; an upsert holds the run in memory).
DELETE FROM articles WHERE url IN $keys;
