-- Which constraint kinds does the teacher's Reasoner break most, and how often do they survive?
-- Assumes: traces(injected_errors: VARCHAR[] of mistake kinds, final_pass, reflected,
--          lazy_reflection: BOOLEAN).
-- One row per mistake kind: traces with it, their share of all traces, and among them the share
-- whose final plan still fails, that reached the Reflector, and that slipped past both Judges.
WITH total AS (SELECT count(*) AS n FROM traces),
     made AS (SELECT unnest(injected_errors) AS mistake, final_pass, reflected, lazy_reflection FROM traces)
SELECT mistake,
       count(*) AS traces,
       round(count(*) / any_value(total.n), 4) AS share_of_traces,
       round(avg((NOT final_pass)::DOUBLE), 4) AS final_fail_rate,
       round(avg(reflected::DOUBLE), 4) AS reflected_rate,
       round(avg(lazy_reflection::DOUBLE), 4) AS lazy_rate
FROM made, total
GROUP BY mistake
ORDER BY traces DESC, mistake
