-- How many traces survive the filter, per level? (Why the rest were dropped: reports/filter.json.)
-- One row per level plus `all`: traces, SFT samples kept, kept rate, and kept samples with a reflection.
SELECT coalesce(t.level, 'all') AS level,
       count(*) AS traces,
       count(s.query_id) AS kept,
       round(count(s.query_id) / count(*), 4) AS kept_rate,
       count(*) FILTER (WHERE s.reflected) AS kept_reflected
FROM traces t
LEFT JOIN sft s ON s.query_id = t.query_id AND s.split = t.split
GROUP BY GROUPING SETS ((t.level), ())
ORDER BY t.level = 'all', t.level
