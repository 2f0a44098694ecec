INSERT INTO known_validators
SELECT * FROM http_validators WHERE url IN $keys;
