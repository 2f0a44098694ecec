-- The days under which the replaced signatures' bands are filed.
SELECT DISTINCT day FROM replaced_signatures WHERE day IS NOT NULL ORDER BY day;
