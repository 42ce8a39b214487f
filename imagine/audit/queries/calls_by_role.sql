-- What did the teacher calls cost? One row per agent role: calls, share served from the cache,
-- failed calls, mean tokens in / out and mean latency of the calls actually made.
SELECT role,
       count(*) AS calls,
       round(avg(cached::DOUBLE), 4) AS cached_rate,
       count(*) FILTER (WHERE error IS NOT NULL) AS errors,
       round(avg(tokens_in), 1) AS mean_tokens_in,
       round(avg(tokens_out), 1) AS mean_tokens_out,
       round(avg(latency_ms) FILTER (WHERE NOT cached), 1) AS mean_latency_ms
FROM turns
GROUP BY role
ORDER BY min(round), role
