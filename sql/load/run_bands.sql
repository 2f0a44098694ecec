-- The run's signatures cut into bands (warehouse/band_key.sql), filed under each article's day.
CREATE OR REPLACE TEMP TABLE run_bands AS
SELECT day, band_key(minhash, band, $band_rows) AS key, url
FROM stage_stories, range(0, $permutations // $band_rows) AS bands(band)
WHERE minhash IS NOT NULL;
