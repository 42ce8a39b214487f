-- Which strict checks do the final plans fail most?
-- One row per check (cs_* commonsense, hard_* hard constraints) with the traces where it applies,
-- how many final plans fail it, and the fail rate; most failed first.
SELECT check_name,
       count(*) AS applicable,
       count(*) FILTER (WHERE NOT passed) AS failed,
       round(avg((NOT passed)::DOUBLE), 4) AS fail_rate
FROM (
    UNPIVOT (SELECT COLUMNS('^(cs|hard)_') FROM traces)
    ON COLUMNS('^(cs|hard)_') INTO NAME check_name VALUE passed
)
GROUP BY check_name
ORDER BY failed DESC, check_name
