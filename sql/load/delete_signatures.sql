-- One chunk of the run's urls ($keys): their earlier signatures go (by the primary key).
DELETE FROM story_signatures WHERE url IN $keys;
