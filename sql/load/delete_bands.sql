-- The replaced signatures' bands, in one period of days ($lo to $hi, constants: DuckDB reads
-- only the row groups whose days overlap it).
DELETE FROM story_bands
WHERE day BETWEEN $lo AND $hi AND url IN (SELECT url FROM replaced_signatures);
