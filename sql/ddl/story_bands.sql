-- The signatures cut into bands (locality-sensitive hashing): two articles that share a band's
-- key are candidates for one story. The key is the band's rows packed, exact, with the band's
-- number mixed into its top bits (warehouse/band_key.sql): a key shared across two bands only
-- adds a candidate, which the signatures' similarity then rejects. The day (the article's
-- publication date, else the date it was loaded) lets a run read only the row groups of its
-- own period: rows are appended run by run, so each row group covers a few days.
CREATE TABLE IF NOT EXISTS story_bands (
    day DATE NOT NULL,
    key UBIGINT NOT NULL,
    url VARCHAR NOT NULL
);
