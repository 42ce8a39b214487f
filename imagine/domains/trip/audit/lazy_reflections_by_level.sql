-- Lazy reflections: both Judges said "No errors." although the plan fails. Per level: how often,
-- which share of the flagged traces the Reflector repaired, and the final pass rate.
-- Assumes: traces(level, final_pass, reflected, lazy_reflection: BOOLEAN).
SELECT coalesce(level, 'all') AS level,
       count(*) AS traces,
       count(*) FILTER (WHERE lazy_reflection) AS lazy,
       round(avg(lazy_reflection::DOUBLE), 4) AS lazy_rate,
       round(avg(reflected::DOUBLE), 4) AS reflected_rate,
       round(avg(final_pass::DOUBLE) FILTER (WHERE reflected), 4) AS pass_rate_after_reflection,
       round(avg(final_pass::DOUBLE), 4) AS final_pass_rate
FROM traces
GROUP BY GROUPING SETS ((level), ())
ORDER BY level IS NULL, level
