-- One row per story: near-duplicate copies of one article across outlets. Its title and
-- first_url are its earliest published article's (then the smallest url).
CREATE OR REPLACE VIEW stories AS
WITH members AS (
    SELECT article_stories.story_id, article_hosts.*
    FROM article_stories
    JOIN article_hosts ON article_hosts.url = article_stories.url
),

final AS (
    SELECT
        story_id,
        arg_min(title, ("timestamp" IS NULL, "timestamp", url)) AS title,
        count(*) AS articles,
        list(DISTINCT host ORDER BY host) AS hosts,
        min("timestamp") AS first_seen,
        max("timestamp") AS last_seen,
        arg_min(url, ("timestamp" IS NULL, "timestamp", url)) AS first_url
    FROM members
    GROUP BY story_id
)

SELECT * FROM final;
