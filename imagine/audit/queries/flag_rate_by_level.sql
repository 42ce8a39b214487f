-- How often do the judges flag a trace, per level, and how often should they have?
-- One row per level plus `all`: traces, flagged share, and the share of reasoner plans that
-- actually fail the strict checks (a flag rate far below the fail rate means lazy judges).
SELECT coalesce(level, 'all') AS level,
       count(*) AS traces,
       count(*) FILTER (WHERE flagged) AS flagged,
       round(avg(flagged::DOUBLE), 4) AS flag_rate,
       round(avg((NOT reasoner_pass)::DOUBLE), 4) AS reasoner_fail_rate
FROM traces
GROUP BY GROUPING SETS ((level), ())
ORDER BY level = 'all', level
