-- A loaded url's metadata row goes first (looked up by key, bound as $keys).
DELETE FROM article_meta WHERE url IN $keys;
