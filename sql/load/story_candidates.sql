-- For each of the run's signed articles, every other article it shares a band with and whose
-- body is similar enough (the share of equal MinHash rows estimates their Jaccard similarity),
-- with the story that article is already in (NULL: it is in this run too).
WITH pairs AS (
    SELECT DISTINCT mine.url, other.url AS other
    FROM story_bands AS mine
    JOIN story_bands AS other
        ON other.band = mine.band AND other.value = mine.value AND other.url <> mine.url
    WHERE mine.url IN (SELECT url FROM stage_stories WHERE minhash IS NOT NULL)
),

scored AS (
    SELECT
        pairs.url,
        pairs.other,
        len(list_filter(list_zip(a.minhash, b.minhash), lambda z: z[1] = z[2]))
            / len(a.minhash) AS similarity
    FROM pairs
    JOIN story_signatures AS a ON a.url = pairs.url
    JOIN story_signatures AS b ON b.url = pairs.other
),

final AS (
    SELECT scored.url, scored.other, scored.similarity, article_stories.story_id
    FROM scored
    LEFT JOIN article_stories ON article_stories.url = scored.other
    WHERE scored.similarity >= $threshold
)

SELECT * FROM final ORDER BY url, similarity DESC, other;
