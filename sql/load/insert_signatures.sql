-- The run's signatures and their bands replace the urls' earlier ones (removed before).
INSERT INTO story_signatures (url, minhash, day)
SELECT url, minhash, day FROM stage_stories WHERE minhash IS NOT NULL;
INSERT INTO story_bands
SELECT day, key, url FROM run_bands ORDER BY day, key;
