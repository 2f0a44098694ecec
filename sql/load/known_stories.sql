-- The stories that one chunk of urls ($keys) already has, from the primary key's index.
SELECT url, story_id FROM article_stories WHERE url IN $keys;
