-- How often can a valid plan differ from the golden one (where the official exact match scores a
-- valid plan 0)? Per split and level: queries, mean cities / events / connections, mean number of
-- valid itineraries (capped), the share with a unique solution and the share at the cap.
-- Assumes: queries(split, level: VARCHAR; n_cities, n_events, n_connections, n_solutions: BIGINT;
--          solutions_capped: BOOLEAN).
SELECT split,
       level,
       count(*) AS queries,
       round(avg(n_cities), 2) AS mean_cities,
       round(avg(n_events), 2) AS mean_events,
       round(avg(n_connections), 2) AS mean_connections,
       round(avg(n_solutions), 2) AS mean_solutions,
       round(avg((n_solutions = 1)::DOUBLE), 4) AS unique_share,
       round(avg(solutions_capped::DOUBLE), 4) AS capped_share
FROM queries
GROUP BY split, level
ORDER BY split, level
