-- The days of the run's signed articles, for the periods the story match reads.
SELECT DISTINCT day FROM run_bands ORDER BY day;
