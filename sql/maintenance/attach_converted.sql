-- A new file in the storage format the warehouse is written in.
ATTACH $path AS converted_db (STORAGE_VERSION $version);
