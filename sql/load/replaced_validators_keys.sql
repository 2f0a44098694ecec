SELECT url FROM known_validators WHERE url IN (SELECT url FROM incoming_validators);
