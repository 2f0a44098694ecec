SELECT DISTINCT url FROM stage_validators;
