-- The urls whose version this run loaded: their side rows are replaced (a "new" url too: a
-- row left behind when its article was removed by hand).
SELECT url FROM decided WHERE action IN ('new', 'updated') ORDER BY url;
