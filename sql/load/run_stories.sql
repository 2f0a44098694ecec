-- The run's articles in founding order, with the story each is already in (an updated url).
SELECT stage_stories.url, article_stories.story_id
FROM stage_stories
LEFT JOIN article_stories ON article_stories.url = stage_stories.url
ORDER BY stage_stories."timestamp" NULLS LAST, stage_stories.url;
