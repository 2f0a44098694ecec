-- A warehouse made before the story window: its bands rebuilt from the dated signatures
-- (warehouse/date_signatures.sql first), ordered by day so that each row group covers a
-- short period, as the runs' own appends do.
INSERT INTO story_bands
SELECT day, band_key(minhash, band, $band_rows) AS key, url
FROM story_signatures, range(0, $permutations // $band_rows) AS bands(band)
ORDER BY day;
