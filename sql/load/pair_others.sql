-- The articles the run's articles are paired with: their signatures are looked up by key.
SELECT DISTINCT other FROM story_pairs ORDER BY other;
