INSERT INTO http_validators SELECT * FROM incoming_validators;
