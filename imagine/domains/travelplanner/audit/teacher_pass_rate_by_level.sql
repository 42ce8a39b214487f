-- How good is the teacher? Strict final pass rate of the Reasoner alone and of the whole MAS
-- (after judges and Reflector), per level plus `all`, with the mean strict cost of passing final plans.
SELECT coalesce(level, 'all') AS level,
       count(*) AS traces,
       round(avg(reasoner_pass::DOUBLE), 4) AS reasoner_pass_rate,
       round(avg(final_pass::DOUBLE), 4) AS mas_pass_rate,
       round(avg(final_pass::DOUBLE) - avg(reasoner_pass::DOUBLE), 4) AS gain,
       round(avg(final_cost) FILTER (WHERE final_pass), 1) AS mean_cost_passing
FROM traces
GROUP BY GROUPING SETS ((level), ())
ORDER BY level = 'all', level
