-- The README's sample query: the latest articles with their hosts.
SELECT strftime(timezone('UTC', "timestamp"), '%Y-%m-%d %H:%M') AS published_utc, host, title
FROM latest_articles
LIMIT 8;
