-- How many articles there are: an index in step holds exactly as many documents.
SELECT count(*) FROM articles;
