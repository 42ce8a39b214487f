-- Which kinds of mistakes does the teacher make, and which do the judges catch and the Reflector fix?
-- One row per injected error kind (the rules Reasoner records what it got wrong): traces carrying it,
-- the share flagged by a judge, the share whose final plan passes, and the share still failing unflagged.
SELECT kind,
       count(*) AS traces,
       round(avg(flagged::DOUBLE), 4) AS caught_rate,
       round(avg(final_pass::DOUBLE), 4) AS fixed_rate,
       round(avg(coalesce(lazy_reflection, false)::DOUBLE), 4) AS missed_rate
FROM (SELECT unnest(injected_errors) AS kind, flagged, final_pass, lazy_reflection FROM traces)
GROUP BY kind
ORDER BY traces DESC, kind
