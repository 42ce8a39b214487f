-- Lazy reflections: both judges said "No errors." yet the reasoner's plan fails a strict check.
-- One row per level plus `all`: lazy traces, failing reasoner plans, and the share of failing plans
-- the judges let through (miss rate). List them with:
--   SELECT query_id, level, injected_errors FROM traces WHERE lazy_reflection
SELECT coalesce(level, 'all') AS level,
       count(*) FILTER (WHERE lazy_reflection) AS lazy,
       count(*) FILTER (WHERE NOT reasoner_pass) AS failing_plans,
       round(count(*) FILTER (WHERE lazy_reflection) / nullif(count(*) FILTER (WHERE NOT reasoner_pass), 0), 4)
           AS miss_rate,
       round(avg(lazy_reflection::DOUBLE), 4) AS lazy_rate
FROM traces
GROUP BY GROUPING SETS ((level), ())
ORDER BY level = 'all', level
