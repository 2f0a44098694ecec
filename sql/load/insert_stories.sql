-- The stories chosen for the run's new articles (an article keeps its story once it has one).
INSERT INTO article_stories
SELECT url, story_id FROM assigned_stories;
