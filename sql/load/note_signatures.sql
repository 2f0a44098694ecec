-- One chunk of the run's urls ($keys): their earlier signatures' days, noted before they go
-- (read by the primary key's index).
INSERT INTO replaced_signatures SELECT url, day FROM story_signatures WHERE url IN $keys;
