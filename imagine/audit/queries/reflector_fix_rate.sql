-- When the Reflector is called, does it fix the plan, and does it ever break a good one?
-- One row per level plus `all`: reflections, those on a failing reasoner plan, how many of those
-- the reflector fixed (final plan passes every strict check) and the fix rate; false alarms
-- (reflected although the reasoner plan passed) and how many of those it broke.
SELECT coalesce(level, 'all') AS level,
       count(*) AS reflected,
       count(*) FILTER (WHERE NOT reasoner_pass) AS on_failing_plan,
       count(*) FILTER (WHERE reflector_fixed) AS fixed,
       round(count(*) FILTER (WHERE reflector_fixed) / nullif(count(*) FILTER (WHERE NOT reasoner_pass), 0), 4)
           AS fix_rate,
       count(*) FILTER (WHERE reasoner_pass) AS false_alarms,
       count(*) FILTER (WHERE reasoner_pass AND NOT final_pass) AS broke_good_plan,
       count(*) FILTER (WHERE reflector_parse_error IS NOT NULL) AS parse_errors
FROM traces
WHERE reflected
GROUP BY GROUPING SETS ((level), ())
ORDER BY level = 'all', level
