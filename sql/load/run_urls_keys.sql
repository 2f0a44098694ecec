SELECT DISTINCT url FROM stage_articles;
