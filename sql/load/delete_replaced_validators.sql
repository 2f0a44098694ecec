-- URLs fetched before: their old validators go first, so the insert below is a plain one.
DELETE FROM http_validators WHERE url IN $keys;
