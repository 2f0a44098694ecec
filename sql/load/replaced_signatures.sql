-- The signatures (and so the bands' days) that the run's urls had before this run.
CREATE OR REPLACE TEMP TABLE replaced_signatures (url VARCHAR NOT NULL, day DATE);
