-- The pairs of the run's articles of days $run_lo to $run_hi: every other article that shares
-- a band's key and whose day lies within $window days of the article's. The bands are read only
-- from $lo to $hi (constants: DuckDB skips the row groups of other periods).
INSERT INTO story_pairs
SELECT DISTINCT mine.url, other.url AS other
FROM run_bands AS mine
JOIN story_bands AS other
    ON other.key = mine.key AND other.url <> mine.url
WHERE
    mine.day BETWEEN $run_lo AND $run_hi
    AND other.day BETWEEN $lo AND $hi
    AND abs(date_diff('day', mine.day, other.day)) <= $window;
