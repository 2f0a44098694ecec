-- Pairs of (the run's article, another) that share a band, within the story window.
CREATE OR REPLACE TEMP TABLE story_pairs (url VARCHAR NOT NULL, other VARCHAR NOT NULL);
