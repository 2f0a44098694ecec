-- Who publishes first: how often each host had a story's earliest copy, among stories that
-- more than one host carried.
WITH shared AS (
    SELECT story_id, first_url FROM stories WHERE len(hosts) > 1
)

SELECT
    article_hosts.host,
    count(*) AS first_copies
FROM shared
JOIN article_hosts ON article_hosts.url = shared.first_url
GROUP BY article_hosts.host
ORDER BY first_copies DESC, article_hosts.host
LIMIT 20;
