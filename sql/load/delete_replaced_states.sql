-- Inputs seen before: their old state goes first, so the insert below is a plain one.
DELETE FROM source_state WHERE source IN $keys;
