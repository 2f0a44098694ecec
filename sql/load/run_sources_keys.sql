SELECT source FROM stage_articles
UNION
SELECT source FROM stage_rejects
UNION
SELECT source FROM stage_sources;
