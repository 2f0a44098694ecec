SELECT
    (SELECT count(*) FROM stage_articles) AS transformed,
    count(*) FILTER (WHERE action = 'new') AS new,
    count(*) FILTER (WHERE action = 'updated') AS updated,
    count(*) FILTER (WHERE action = 'unchanged') AS unchanged,
    count(*) FILTER (WHERE action = 'superseded') AS superseded,
    (SELECT count(*) FROM stage_rejects) AS rejected
FROM decided;
