-- The run's signatures and their bands replace the urls' earlier ones. A band's value packs
-- its $band_rows 32-bit rows into one exact number, the same in every DuckDB version.
DELETE FROM story_signatures WHERE url IN (SELECT url FROM stage_stories);
DELETE FROM story_bands WHERE url IN (SELECT url FROM stage_stories);
INSERT INTO story_signatures
SELECT url, minhash FROM stage_stories WHERE minhash IS NOT NULL;
INSERT INTO story_bands
SELECT
    band,
    list_reduce(
        list_transform(
            list_slice(minhash, band * $band_rows + 1, (band + 1) * $band_rows),
            lambda x: x::UHUGEINT
        ),
        lambda acc, x: (acc << 32) | x
    ) AS value,
    url
FROM stage_stories, range(0, $permutations // $band_rows) AS bands(band)
WHERE minhash IS NOT NULL;
