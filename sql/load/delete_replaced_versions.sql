-- Updated urls: their old version goes first, so the insert below is a plain one.
DELETE FROM current_versions WHERE url IN $keys;
