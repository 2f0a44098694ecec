-- The warehouse as it is, to copy from.
ATTACH $path AS source_db (READ_ONLY);
