SELECT source FROM known_states WHERE source IN (SELECT source FROM incoming_states);
