-- Does the teacher's final pass rate fall with the number of cities? Per level and number of
-- cities, with a subtotal per level and an overall row (level 'all', n_cities NULL on subtotals).
-- Assumes: traces(query_id, level, final_pass, reflected: BOOLEAN, injected_errors: VARCHAR[]);
--          queries(query_id, n_cities, n_events: BIGINT). query_id is unique across splits.
SELECT coalesce(t.level, 'all') AS level,
       q.n_cities,
       count(*) AS traces,
       round(avg(t.final_pass::DOUBLE), 4) AS final_pass_rate,
       round(avg((len(t.injected_errors) = 0)::DOUBLE), 4) AS clean_reasoner_rate,
       round(avg(t.reflected::DOUBLE), 4) AS reflected_rate,
       round(avg(q.n_events), 2) AS mean_events
FROM traces t JOIN queries q USING (query_id)
GROUP BY GROUPING SETS ((t.level, q.n_cities), (t.level), ())
ORDER BY t.level IS NULL, t.level, q.n_cities IS NULL, q.n_cities
