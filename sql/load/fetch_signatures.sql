-- One chunk ($keys) of the paired articles' signatures, from the primary key's index.
INSERT INTO candidate_signatures SELECT url, minhash FROM story_signatures WHERE url IN $keys;
