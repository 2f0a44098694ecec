-- The signatures of the paired articles, looked up by key (load/fetch_signatures.sql).
CREATE OR REPLACE TEMP TABLE candidate_signatures (url VARCHAR NOT NULL, minhash UINTEGER[]);
