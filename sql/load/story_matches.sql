-- For each of the run's signed articles, every paired article whose body is similar enough
-- (the share of equal MinHash rows estimates their Jaccard similarity), most similar first.
WITH scored AS (
    SELECT
        story_pairs.url,
        story_pairs.other,
        len(list_filter(list_zip(mine.minhash, other.minhash), lambda z: z[1] = z[2]))
            / len(mine.minhash) AS similarity
    FROM story_pairs
    JOIN stage_stories AS mine ON mine.url = story_pairs.url
    JOIN candidate_signatures AS other ON other.url = story_pairs.other
),

final AS (
    SELECT url, other, similarity FROM scored WHERE similarity >= $threshold
)

SELECT * FROM final ORDER BY url, similarity DESC, other;
