-- Which strict checks do the teacher's final plans fail most?
-- Assumes: traces(check_total_days, check_contiguous_stays, check_each_city_once, check_stay_lengths,
--          check_direct_flights, check_events: BOOLEAN, NULL where the check does not apply).
-- One row per check: the traces where it applies (UNPIVOT drops NULLs), how many final plans fail
-- it, and the fail rate; most failed first.
SELECT replace(check_name, 'check_', '') AS check_name,
       count(*) AS applicable,
       count(*) FILTER (WHERE NOT passed) AS failed,
       round(avg((NOT passed)::DOUBLE), 4) AS fail_rate
FROM (
    UNPIVOT (SELECT COLUMNS('^check_') FROM traces)
    ON COLUMNS('^check_') INTO NAME check_name VALUE passed
)
GROUP BY check_name
ORDER BY failed DESC, check_name
