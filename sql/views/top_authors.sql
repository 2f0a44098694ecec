-- Who writes for each site: articles per byline and host, the most prolific first.
CREATE OR REPLACE VIEW top_authors AS
WITH source AS (
    SELECT article_hosts.host, article_meta.author, article_hosts."timestamp"
    FROM article_meta
    JOIN article_hosts ON article_hosts.url = article_meta.url
    WHERE article_meta.author IS NOT NULL
),

final AS (
    SELECT
        host,
        author,
        count(*) AS articles,
        max("timestamp") AS last_published,
        row_number() OVER (PARTITION BY host ORDER BY count(*) DESC, author) AS rank_in_host
    FROM source
    GROUP BY host, author
)

SELECT * FROM final ORDER BY host, rank_in_host;
